"""The records of the Directive's other operations (streams.core.operations): collection,
combination, alteration and consultation records chain and verify with disclosures, pass
through the audit schema, are counted per kind, and reconcile with the feeds without a feed
message; a consultation of a disclosure the agency never got is named."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, seal_record, verify_chain
from streams.audit.receipts import make_receipt
from streams.audit.recheck import recheck
from streams.audit.records import reconcile, stats
from streams.core.disclosure import disclosure_digest
from streams.core.notices import EventLedger, request
from streams.core.operations import (
    alteration_record,
    collection_record,
    combination_record,
    combined_with,
    consultation_record,
    operation_id,
)
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement
from tests.unit.test_disclosure import EXCHANGE_ID, KEYS, SIGNING, build, through_avro

LATER = "1c0a3b9f-7d2e-4f8b-a04c-3e6d9b2f5a71"
EARLIER = "2d1b4c0a-8e3f-4a9c-b15d-4f7e0c3a6b82"


def commit(subject: str) -> str:
    return f"c-{subject}"


def chain(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records, prev = [], GENESIS
    for sequence, entry in enumerate(pending):
        record = seal_record(
            through_avro(entry, "intelshare.AuditRecord"),
            sequence=sequence, prev_hash=prev, key_id=EXCHANGE_ID, signing_key=SIGNING, now=NOW,
        )  # fmt: skip
        records.append(record)
        prev = record["hash"]
    return records


def test_a_collection_names_the_report_by_digest_and_subjects_by_commitment() -> None:
    """Nobody receives it; the same report collected twice has the same id (exactly once)."""
    report = enriched()
    record = collection_record(report, b"raw bytes", commit=commit, now=NOW)
    assert record["kind"] == "collection"
    assert (record["recipient"], record["agreement_id"]) == ("", "")
    assert record["subjects"] == [commit(s["subject_id"]) for s in report["subjects"]]
    assert not any(s["subject_id"] in record["subjects"] for s in report["subjects"])
    assert len(record["payload_sha256"]) == 32
    again = collection_record(report, b"raw bytes", commit=commit, now=NOW + timedelta(hours=1))
    assert (
        again["disclosure_id"]
        == record["disclosure_id"]
        == operation_id("collection", report["event_id"])
    )
    assert (
        collection_record(enriched(), b"x", commit=commit, now=NOW)["disclosure_id"]
        != (record["disclosure_id"])
    )


def test_a_combination_is_recorded_only_for_a_linked_report() -> None:
    """The linked event ids, each once and never the report's own; none linked, no record."""
    assert combination_record(enriched(), commit=commit, now=NOW) is None
    report = enriched()
    report["enrichment"] |= {
        "correlated_with": [LATER, EARLIER, LATER, report["event_id"]],
        "duplicate_of": EARLIER,
    }
    assert combined_with(report) == sorted([LATER, EARLIER])
    record = combination_record(report, commit=commit, now=NOW)
    assert record is not None
    assert (record["kind"], record["fields_disclosed"]) == ("combination", sorted([LATER, EARLIER]))


def test_an_alteration_is_recorded_once_per_correcting_report() -> None:
    """The ledger marks each correcting event; a recall is no alteration."""
    event = enriched()["event_id"]
    correction = request("correction", event, "KZ-PIU-1", NOW, corrected_by=LATER)
    ledger = EventLedger({"unit": "KZ-PIU-1"})
    assert ledger.correction(correction) is True
    assert ledger.correction(correction) is False
    assert EventLedger(ledger.dump()).correction(correction) is False  # kept in state
    other = request("correction", event, "KZ-PIU-1", NOW, corrected_by=EARLIER)
    assert ledger.correction(other) is True
    recall = request("recall", event, "KZ-PIU-1", NOW, reason="withdrawn")
    assert ledger.correction(recall) is False
    record = alteration_record(correction, now=NOW)
    assert (record["kind"], record["event_id"], record["refers_to"]) == (
        "alteration",
        event,
        LATER,
    )
    assert record["disclosure_id"] != alteration_record(other, now=NOW)["disclosure_id"]


def test_every_operation_chains_verifies_counts_and_reconciles_without_a_feed_message() -> None:
    """A log of collection, combination, disclosure, consultation and alteration verifies;
    stats count each kind; reconciliation wants the disclosure's feed message only, and the
    agreement history re-checks the disclosure only."""
    report = enriched()
    report["enrichment"]["correlated_with"] = [EARLIER]
    disclosure, pending, _ = build(report)
    agency_key = Ed25519PrivateKey.generate()
    receipt = make_receipt(disclosure["disclosure_id"], "kz-knb", agency_key, NOW)
    combined = combination_record(report, commit=commit, now=NOW)
    assert combined is not None
    correction = request("correction", report["event_id"], "KZ-PIU-1", NOW, corrected_by=LATER)
    records = chain(
        [
            collection_record(report, b"raw", commit=commit, now=NOW),
            combined,
            pending,
            consultation_record(receipt, now=NOW),
            alteration_record(correction, now=NOW),
        ]
    )
    assert verify_chain(records, KEYS) == 5
    kinds = stats(records)["per_kind"]
    assert [kinds[k] for k in ("collection", "combination", "disclosure")] == [1, 1, 1]
    assert [kinds[k] for k in ("consultation", "alteration")] == [1, 1]
    assert stats(records)["disclosures"] == 1
    assert reconcile(records, [disclosure]) == []
    assert disclosure_digest(disclosure) == records[2]["disclosure_sha256"]
    checked = recheck(records, {(a.id, a.version): a for a in [make_agreement()]})
    assert (checked.checked, checked.unknown, checked.breached_at) == (1, 0, None)


def test_a_consultation_of_a_disclosure_the_agency_never_got_is_named() -> None:
    """Another agency's disclosure, or one not in the log, is a discrepancy naming the record."""
    report = enriched()
    disclosure, pending, _ = build(report)
    key = Ed25519PrivateKey.generate()
    other = make_receipt(disclosure["disclosure_id"], "kg-gknb", key, NOW)
    unknown = make_receipt("00000000-0000-4000-8000-000000000000", "kz-knb", key, NOW)
    records = chain(
        [pending, consultation_record(other, now=NOW), consultation_record(unknown, now=NOW)]
    )
    found = reconcile(records, [disclosure])
    assert [(d.sequence, d.disclosure_id) for d in found] == [
        (1, records[1]["disclosure_id"]),
        (2, records[2]["disclosure_id"]),
    ]
    assert "kg-gknb" in found[0].reason


def test_a_consultation_record_carries_the_receipt() -> None:
    """When the agency opened it, who, which disclosure; the same receipt, the same id."""
    key = Ed25519PrivateKey.generate()
    opened = NOW - timedelta(minutes=5)
    receipt = make_receipt("d-1", "kz-knb", key, opened)
    record = consultation_record(receipt, now=NOW)
    assert (record["recipient"], record["refers_to"], record["disclosed_at"]) == (
        "kz-knb",
        "d-1",
        opened,
    )
    assert record["recorded_at"] == NOW
    assert consultation_record(receipt, now=NOW)["disclosure_id"] == record["disclosure_id"]
    second = make_receipt("d-1", "kz-knb", key, NOW)
    assert consultation_record(second, now=NOW)["disclosure_id"] != record["disclosure_id"]
