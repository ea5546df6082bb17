"""``intelshare status EVENT_ID`` on a real broker and worker: what became of each report,
as the unit that sent it asks (issue 17)."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest

from tests.factories import incident
from tests.integration.exchange import Exchange, agreement, facility, wait_until

pytestmark = pytest.mark.integration

FIRST = incident(facility_id="KZ-F-1", narrative="status: the first report")
DUPLICATE = FIRST | {"event_id": str(uuid.uuid4())}  # same content, same unit
OTHER_UNIT = incident(
    facility_id="KZ-F-1", unit_id="KZ-PIU-ASTANA", narrative="status: another unit's report"
)  # same subject and category: correlated with FIRST
UNKNOWN_FACILITY = incident(facility_id="KZ-F-404", narrative="status: nowhere")


@pytest.fixture(scope="module")
def tracked(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    x = Exchange(kafka_bootstrap, tmp_path_factory.mktemp("status"), dict(os.environ))
    x.agency("s-one")
    x.agency("s-two")
    x.reference([facility("KZ-F-1", "KZ")])
    x.agreements([agreement("S-1", "s-one"), agreement("S-2", "s-two")])
    x.worker.start()
    x.submit([FIRST])
    wait_until(lambda: len(x.audit(kind="disclosure")) >= 2, what="the first report's disclosures")
    x.submit([FIRST])  # a repeat: dropped as a replay
    x.submit([DUPLICATE, OTHER_UNIT, UNKNOWN_FACILITY])
    wait_until(lambda: len(x.audit(kind="disclosure")) >= 4, what="the other unit's disclosures")
    wait_until(lambda: len(x.dead_letters()) >= 1, what="the unknown facility's dead letter")
    x.worker.stop()
    return x


def status(x: Exchange, event_id: str, *extra: str) -> Any:
    return x.cli("status", event_id, *extra, ok=False)


def lines(done: Any) -> dict[str, str]:
    assert done.returncode == 0, done.stderr
    return {line[:14].strip(): line[14:] for line in done.stdout.splitlines()}


def test_a_disclosed_report_says_to_how_many_agencies_under_which_agreements(
    tracked: Exchange,
) -> None:
    """The first report: submitted twice (the repeat dropped), accepted, disclosed to both
    agencies, each agreement named with its version; never the recipients' names."""
    told = lines(status(tracked, FIRST["event_id"]))
    assert told["event"] == FIRST["event_id"]
    assert told["submitted"].startswith("2 times, first ")
    assert told["submitted"].endswith("the repeats dropped as replays")
    assert "validated and enriched" in told["accepted"]
    assert told["disclosed"] == "to 2 agencies under S-1 v1, S-2 v1"
    assert "dead letter" not in told


def test_a_duplicate_names_the_report_it_repeats_and_is_not_disclosed(tracked: Exchange) -> None:
    """--json: the duplicate names the earlier report with the same content; no disclosure."""
    told = json.loads(status(tracked, DUPLICATE["event_id"], "--json").stdout)
    assert told["duplicate_of"] == FIRST["event_id"]
    assert told["disclosures"] == []
    assert told["agencies"] == 0
    assert told["accepted_at"] is not None
    assert len(told["submitted"]) == 1


def test_a_correlated_report_names_the_other_units_report(tracked: Exchange) -> None:
    """A report of another unit on the same subject and category is linked to the first."""
    told = lines(status(tracked, OTHER_UNIT["event_id"]))
    assert FIRST["event_id"] in told["correlated"]
    assert told["disclosed"] == "to 2 agencies under S-1 v1, S-2 v1"


def test_a_dead_lettered_report_gives_the_reason_and_what_to_do(tracked: Exchange) -> None:
    """The report with an unknown facility: its dead letter, the reason, not replayed."""
    done = status(tracked, UNKNOWN_FACILITY["event_id"])
    told = lines(done)
    assert "KZ-F-404 is not in the reference data" in told["dead letter"]
    assert "intelshare deadletter replay" in told["dead letter"]
    assert told["dead letter"].endswith("(not replayed)")
    assert "accepted" not in told


@pytest.mark.parametrize(
    "event_id",
    [str(uuid.uuid4()), "x" * 10_000, "evil\n\x1b[2Jid", "", "--json-but-not"],
    ids=["unknown", "huge", "control-characters", "empty", "looks-like-an-option"],
)
def test_an_id_the_exchange_never_saw_exits_1_and_says_so(tracked: Exchange, event_id: str) -> None:
    """Unknown, huge, hostile or empty ids: exit 1 (2 for what argparse takes for an option),
    one short line on stderr that does not echo control characters, nothing on stdout."""
    done = status(tracked, event_id)
    if event_id.startswith("--"):
        assert done.returncode == 2
        return
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert "reached this exchange" in done.stderr
    assert len(done.stderr) < 400
    assert "\x1b" not in done.stderr
