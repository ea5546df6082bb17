"""Oversight on a real broker: verify, query, export, stats, and tampering found by sequence."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import TopicPartition

from streams.audit.chain import seal_record
from streams.core.codec import Codec
from streams.kafka.clients import admin_client, publish, read_topic
from tests.factories import incident
from tests.integration.exchange import SCHEMAS, Exchange, agreement, facility, wait_until
from tests.integration.helpers import run_cli

pytestmark = pytest.mark.integration

COUNT = 12
RECORDS = 3 * COUNT
"""Two disclosures and one collection per report; no combination: the reports name one subject
but come from one unit, and enrich links a report to other units' reports only."""


@pytest.fixture(scope="module")
def audited(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    x = Exchange(kafka_bootstrap, tmp_path_factory.mktemp("audit"), dict(os.environ))
    x.agency("o-one")
    x.agency("o-two")
    x.reference([facility("KZ-F-1", "KZ")])
    # O-1 pseudonymises subject ids for o-one; O-2 discloses them in clear to o-two.
    x.agreements([agreement("O-1", "o-one"), agreement("O-2", "o-two") | {"pseudonymise": []}])
    x.worker.env["INTELSHARE_CHECKPOINT_SECONDS"] = "1"
    x.worker.start()
    x.submit([incident(facility_id="KZ-F-1", narrative=f"audited {i}") for i in range(COUNT)])
    wait_until(lambda: len(x.audit(expect=RECORDS)) >= RECORDS, what="the audit records")
    wait_until(lambda: covered(x) == RECORDS, what="a checkpoint over every record")
    x.worker.stop()
    return x


def covered(x: Exchange) -> int:
    """Records under the latest checkpoint."""
    codec = Codec(SCHEMAS, "intelshare.Checkpoint")
    topic = x.settings.topic_prefix + "intel.audit.checkpoints"
    return max(
        (codec.decode(r.value)["tree_size"] for r in read_topic(x.settings, topic)), default=0
    )


def verify(x: Exchange, *extra: str) -> Any:
    return x.cli("audit", "verify", *extra, ok=False)


def test_sound_log_verifies_and_reconciles(audited: Exchange) -> None:
    """An untouched log verifies, and every feed message has its audit record; checking every
    record's own signature too (not one per checkpoint) says the same."""
    for extra in ((), ("--every-signature",)):
        done = verify(audited, *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"sound: {RECORDS} records" in done.stdout
        assert f"{RECORDS} under the latest signed checkpoint" in done.stdout


def test_agreement_history_keeps_every_version_for_the_recheck(audited: Exchange) -> None:
    """Version 2 of O-1 stops disclosing the narrative: `agreements history` shows both
    versions, and the disclosures made under version 1 still verify against version 1."""
    narrowed = agreement("O-1", "o-one") | {"version": 2}
    narrowed["disclose"] = [f for f in narrowed["disclose"] if f != "narrative"]
    audited.agreements([narrowed])
    lines = audited.cli("agreements", "history", "O-1").stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["v1", "v2"]
    assert "narrative" in lines[0]
    assert "narrative" not in lines[1]
    done = verify(audited)
    assert f"{2 * COUNT} re-checked against their agreement version" in done.stdout, done.stdout


def test_inclusion_proof_checks_offline(audited: Exchange, tmp_path: Path) -> None:
    """prove gives a proof check-proof accepts with only the public key; an altered one fails."""
    ident = json.loads(
        audited.cli("audit", "query", "--recipient", "o-one", "--json").stdout.splitlines()[3]
    )
    proof = tmp_path / "proof.json"
    audited.cli("audit", "prove", ident["disclosure_id"], "--out", str(proof))
    pub = str(audited.home / "keys" / "exchange.pub")
    done = audited.cli("audit", "check-proof", str(proof), "--exchange-key", pub)
    assert f"proven: disclosure {ident['disclosure_id']}" in done.stdout
    altered = json.loads(proof.read_text())
    altered["record"]["agreement_id"] = "O-2"
    proof.write_text(json.dumps(altered))
    failed = audited.cli("audit", "check-proof", str(proof), "--exchange-key", pub, ok=False)
    assert failed.returncode == 1
    assert "NOT PROVEN" in failed.stdout


def test_stats_and_query(audited: Exchange) -> None:
    """Stats count per recipient and agreement; query filters by recipient and event."""
    stats = audited.cli("audit", "stats").stdout
    assert f"disclosures: {2 * COUNT}" in stats
    assert "o-one" in stats
    assert "O-2 v1" in stats
    rows = [
        json.loads(line)
        for line in audited.cli(
            "audit", "query", "--recipient", "o-two", "--json"
        ).stdout.splitlines()
    ]
    assert len(rows) == COUNT
    assert {r["recipient"] for r in rows} == {"o-two"}
    event = rows[0]["event_id"]
    one = audited.cli("audit", "query", "--event", event, "--agreement", "O-1", "--json")
    assert len(one.stdout.splitlines()) == 1
    # issue 13: one kind of record, here each report's collection, with no recipient
    collected = audited.cli("audit", "query", "--kind", "collection", "--json").stdout
    rows = [json.loads(line) for line in collected.splitlines()]
    assert len(rows) == COUNT
    assert {(r["kind"], r["recipient"]) for r in rows} == {("collection", "")}
    assert f"  {'collection':<32} {COUNT:>7}" in stats.splitlines()
    refused = audited.cli("audit", "query", "--kind", "gossip", ok=False)
    assert refused.returncode == 2
    assert "kind: 'gossip' is not one of" in refused.stderr


def test_query_shows_a_table_by_default(audited: Exchange) -> None:
    """Without --json, one readable line per disclosure under a header: sequence, time,
    agreement and version, recipient, event and subjects, never hashes or signatures."""
    records = [
        json.loads(line) for line in audited.cli("audit", "query", "--json").stdout.splitlines()
    ]
    done = audited.cli("audit", "query", "--recipient", "o-two")
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "SEQ", "DISCLOSED", "AGREEMENT", "RECIPIENT", "EVENT", "SUBJECTS", "RECEIVED"
    ]  # fmt: skip
    assert len(lines) == 1 + COUNT
    by_sequence = {r["sequence"]: r for r in records}
    for line in lines[1:]:
        sequence, disclosed, agreement_id, version, recipient, event, subjects, *_ = line.split()
        record = by_sequence[int(sequence)]
        assert (disclosed, agreement_id, version) == (record["disclosed_at"], "O-2", "v1")
        assert (recipient, event) == ("o-two", record["event_id"])
        assert subjects.split(",") == record["subjects"]
    assert not any(r["hash"] in done.stdout or r["signature"] in done.stdout for r in records)
    assert not done.stdout.lstrip().startswith("{")


def test_query_names_an_unknown_recipient_and_an_empty_match(audited: Exchange) -> None:
    """A recipient that is no agency (a typo) is an error, exit 1, naming it; a valid filter
    that matches nothing says so on stderr and exits 0 with nothing on stdout."""
    typo = audited.cli("audit", "query", "--recipient", "o-tow", ok=False)
    assert typo.returncode == 1
    assert typo.stdout == ""
    assert "--recipient 'o-tow' is no registered agency" in typo.stderr
    assert "agencies list" in typo.stderr
    for extra in ((), ("--json",)):
        none = audited.cli("audit", "query", "--recipient", "o-one", "--event", "no-such", *extra)
        assert none.returncode == 0
        assert none.stdout == ""
        assert f"no disclosures match (of {RECORDS} in the log)" in none.stderr


def test_consultation_receipts_show_in_query(audited: Exchange) -> None:
    """Disclosures o-one opened carry a verified received_at; o-two's, unopened, do not."""
    key = str(audited.home / "keys" / "o-one.key")
    opened = audited.cli("consume", "--agency", "o-one", "--key", key, "--from-beginning")
    assert len(opened.stdout.splitlines()) == COUNT
    rows = [
        json.loads(line) for line in audited.cli("audit", "query", "--json").stdout.splitlines()
    ]
    received = {r["recipient"]: [] for r in rows}
    for row in rows:
        received[row["recipient"]].append(row["received_at"])
    assert all(received["o-one"])
    assert not any(received["o-two"])


def _export(x: Exchange, tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "export.jsonl"
    x.cli("audit", "export", "--out", str(path))
    return [json.loads(line) for line in path.read_text().splitlines()]


def _offline(x: Exchange, rows: list[dict[str, Any]], tmp_path: Path) -> Any:
    path = tmp_path / "copy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pub = str(x.home / "keys" / "exchange.pub")
    return verify(x, "--file", str(path), "--exchange-key", pub)


def test_export_verifies_offline(audited: Exchange, tmp_path: Path) -> None:
    """An export verifies with only the exchange's public key; CSV exports every record, says
    it cannot be verified, and verify names a CSV copy as such."""
    rows = _export(audited, tmp_path)
    done = _offline(audited, rows, tmp_path)
    assert done.returncode == 0, done.stdout
    assert "offline" in done.stdout
    exported = audited.cli("audit", "export", "--format", "csv")
    assert len(exported.stdout.splitlines()) == 1 + RECORDS
    assert "`audit verify --file` takes the JSON lines export" in exported.stderr
    # a CSV copy given to verify is named as such, with the command that makes a verifiable one
    copy = tmp_path / "copy.csv"
    copy.write_text(exported.stdout)
    pub = str(audited.home / "keys" / "exchange.pub")
    refused = verify(audited, "--file", str(copy), "--exchange-key", pub)
    assert refused.returncode == 2
    assert "is the CSV export" in refused.stderr
    assert "intelshare audit export --out copy.jsonl" in refused.stderr


def _forged(rows: list[dict[str, Any]], at: int) -> dict[str, Any]:
    from streams.audit.records import export_row, import_row

    record = import_row(rows[at], "row")
    forged = seal_record(
        dict(record, disclosure_id="forged", recipient="o-one"),
        sequence=at,
        prev_hash=import_row(rows[at - 1], "row")["hash"],
        key_id=record["key_id"],
        signing_key=Ed25519PrivateKey.generate(),
        now=record["recorded_at"],
    )
    return export_row(forged)


def _flip(digest: str) -> str:
    """The hex digest with its first byte changed: to 00, or to ff when it was 00 already (one
    digest in 256 begins with 00, and then the tamper changed nothing)."""
    return ("ff" if digest.startswith("00") else "00") + digest[2:]


@pytest.mark.parametrize(
    ("tamper", "sequence"),
    [
        (lambda rows: rows[5].update(recipient="o-three"), 5),
        (lambda rows: rows[3].update(payload_sha256=_flip(rows[3]["payload_sha256"])), 3),
        (lambda rows: rows.pop(7), 7),
        (lambda rows: rows.insert(4, rows.pop(5)), 4),
        (lambda rows: rows.insert(10, _forged(rows, 10)), 10),
    ],
    ids=["changed", "changed-byte", "deleted", "swapped", "inserted-forgery"],
)
def test_tampered_copy_names_the_sequence(
    audited: Exchange, tmp_path: Path, tamper: Any, sequence: int
) -> None:
    """A changed, deleted, swapped or inserted record fails, naming its sequence number."""
    rows = _export(audited, tmp_path)
    tamper(rows)
    done = _offline(audited, rows, tmp_path)
    assert done.returncode == 1
    assert f"BROKEN at sequence {sequence}:" in done.stdout


def test_feed_message_without_audit_record_is_reported(audited: Exchange) -> None:
    """A disclosure slipped onto a feed outside the exchange's transactions is found."""
    codec = Codec(SCHEMAS, "intelshare.Disclosure")
    genuine = audited.feed("o-one")[0]
    topic = audited.settings.topic_prefix + "intel.feed.o-one"
    raw = codec.decode(read_topic(audited.settings, topic)[0].value)
    rogue = dict(raw, disclosure_id="00000000-0000-4000-8000-000000000000")
    publish(audited.settings, topic, [(b"rogue", codec.encode(rogue))])
    done = verify(audited)
    assert done.returncode == 1
    assert "00000000-0000-4000-8000-000000000000" in done.stdout
    assert "no audit record" in done.stdout
    assert genuine["disclosure_id"] != rogue["disclosure_id"]


def test_disclosure_removed_from_feed_is_reported(audited: Exchange) -> None:
    """Records deleted from the head of a feed show up as audited but missing."""
    topic = audited.settings.topic_prefix + "intel.feed.o-two"
    # Reports are keyed by random event ids: a partition may hold none, and the broker refuses
    # to delete past a partition's end. Delete the first record of each partition that has one.
    held = {r.partition for r in read_topic(audited.settings, topic)}
    assert held
    with admin_client(audited.settings) as admin:
        admin.delete_records({TopicPartition(topic, p): 1 for p in held}, timeout_ms=10_000)
    done = verify(audited)
    assert done.returncode == 1
    assert "missing from the feed of o-two" in done.stdout


def test_query_by_real_subject_finds_every_pseudonym(audited: Exchange, tmp_path: Path) -> None:
    """An oversight body asking about one prisoner sees every disclosure about that person,
    under the pseudonym one agency received as well as where the other received the id in
    clear, given the link key; the log itself never holds the id (issue 13: it is kept
    forever, so an id in it would outlive an erasure), so without the key nothing is found."""
    subject = "TJ-P-004211"  # every report of the fixture names this subject
    rows = [
        json.loads(line) for line in audited.cli("audit", "query", "--json").stdout.splitlines()
    ]
    clear = [r for r in rows if r["recipient"] == "o-two"]
    hidden = [r for r in rows if r["recipient"] == "o-one"]
    assert len(clear) == COUNT
    assert len(hidden) == COUNT
    assert subject not in json.dumps(rows)
    assert all(r["subjects"] == r["subject_links"] for r in clear)  # the commitment
    assert all(r["subjects"] != r["subject_links"] for r in hidden)  # the pseudonym

    # The oversight body's own machine: the exchange's public key and the link key only.
    oversight = tmp_path / "oversight"
    exported = audited.cli("keys", "export-link", "--out", str(oversight)).stdout
    link = oversight / "oversight.link.key"
    assert str(link) in exported
    assert link.stat().st_mode & 0o077 == 0
    found = audited.cli("audit", "query", "--subject", subject, "--link-key", str(link), "--json")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(rows) == RECORDS  # the subject's collections too (issue 13)
    assert {r["recipient"] for r in rows} == {"o-one", "o-two", ""}
    kinds = Counter(r["kind"] for r in rows)
    assert (kinds["disclosure"], kinds["collection"], kinds["combination"]) == (2 * COUNT, COUNT, 0)

    # Without any link key (an oversight home with no keys) nothing is found, and the
    # command says why.
    bare = dict(audited.env, INTELSHARE_HOME=str(tmp_path / "bare"))
    done = run_cli("audit", "query", "--subject", subject, "--json", env=bare)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "no oversight link key" in done.stderr
