"""Key rotation while the exchange runs: agencies' keys and the exchange's signing key."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.factories import incident
from tests.integration.exchange import Exchange, agreement, facility, wait_until

pytestmark = pytest.mark.integration


def consume(
    x: Exchange, *keys: Path, beginning: bool = True, extra: tuple[str, ...] = ()
) -> tuple[int, list[dict[str, Any]], str]:
    args = ["consume", "--agency", "r-one", *extra]
    if beginning:
        args.append("--from-beginning")
    for key in keys:
        args += ["--key", str(key)]
    done = x.cli(*args, ok=False)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def rotate(x: Exchange, *who: str) -> Path:
    """Rotate and return where the previous private key was kept."""
    out = x.cli("keys", "rotate", *who).stdout
    line = next(line for line in out.splitlines() if line.startswith("previous key kept as "))
    return Path(line.split()[4])


def disclose(x: Exchange, narrative: str, count: int) -> dict[str, Any]:
    report = incident(facility_id="KZ-F-1", narrative=narrative)
    x.submit([report])
    wait_until(
        lambda: len(x.audit(expect=count, kind="disclosure")) >= count, what=f"disclosure {count}"
    )
    return report


def test_agency_and_exchange_keys_rotate(kafka_bootstrap: str, tmp_path: Path) -> None:
    """New disclosures use the new keys; older ones stay readable and verifiable."""
    x = Exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    keys = tmp_path / "keys"
    x.agency("r-one")
    x.reference([facility("KZ-F-1", "KZ")])
    x.agreements([agreement("R-1", "r-one")])
    x.worker.start()
    first = disclose(x, "before any rotation", 1)

    old_agency_key = rotate(x, "--agency", "r-one")
    assert old_agency_key.is_file()
    assert old_agency_key.stat().st_mode & 0o077 == 0
    # The new key replaces the registered one only when the operator says so: --replace.
    register = ("agencies", "register", "--id", "r-one", "--name", "r-one",
                "--public-key", str(keys / "r-one.pub"))  # fmt: skip
    refused = x.cli(*register, ok=False)
    assert refused.returncode == 1
    assert "--replace" in refused.stderr
    x.cli(*register, "--replace")
    time.sleep(2)  # the worker follows intel.ref.agencies
    second = disclose(x, "after the agency rotated", 2)

    # The agency's first read after the rotation, with only its new key: the older
    # disclosure is refused, and consume must not mark it as read.
    code, opened, stderr = consume(x, keys / "r-one.key", beginning=False)
    assert code == 1
    assert first["event_id"] not in {d["event_id"] for d in opened}
    assert "was not given" in stderr
    assert "1 refused" in stderr
    # As the message advises, the next read with both keys resumes from the refused one.
    code, again, stderr = consume(x, keys / "r-one.key", old_agency_key, beginning=False)
    assert code == 0, stderr
    events = [d["event_id"] for d in opened + again]
    assert sorted(events) == sorted([first["event_id"], second["event_id"]])
    # Without --key, every key of the agency in $INTELSHARE_HOME/keys is used.
    code, opened, stderr = consume(x)
    assert code == 0, stderr
    assert {d["event_id"] for d in opened} == {first["event_id"], second["event_id"]}
    # Told to skip, consume moves past the refused disclosure and records it.
    code, opened, stderr = consume(x, keys / "r-one.key", extra=("--skip-refused",))
    assert code == 1
    assert "skipped" in stderr
    skipped = [json.loads(line) for line in (tmp_path / "skipped" / "r-one.jsonl").open()]
    assert len(skipped) == 1
    assert skipped[0]["missing_key"] == old_agency_key.name.split(".")[1]
    code, opened, _ = consume(x, keys / "r-one.key", old_agency_key, beginning=False)
    assert (code, opened) == (0, [])

    x.worker.stop()
    rotate(x, "--exchange")
    x.worker.start()
    third = disclose(x, "after the exchange rotated", 3)
    code, opened, _ = consume(x, keys / "r-one.key", old_agency_key)
    assert code == 0
    assert third["event_id"] in {d["event_id"] for d in opened}

    records = x.settled_audit()
    kinds = [r["kind"] for r in records]
    assert (kinds.count("disclosure"), kinds.count("collection")) == (3, 3)
    assert set(kinds) <= {"disclosure", "collection", "consultation"}
    sound = x.cli("audit", "verify").stdout
    assert f"sound: {len(records)} records" in sound
    only_new = x.cli("audit", "verify", "--exchange-key", str(keys / "exchange.pub"), ok=False)
    assert only_new.returncode == 1
    assert "BROKEN at sequence 0" in only_new.stdout
    x.worker.stop()
