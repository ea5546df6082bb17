"""Recall and correction, the pure parts: requests, the route's per-event ledger (a recalled
event is never disclosed again; each notice once), notices signed and opened like disclosures,
their STIX form, and audit stats by record kind."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams import cli
from streams.audit.chain import GENESIS, seal_record, verify_chain
from streams.audit.records import reconcile, stats
from streams.core.crypto import key_id
from streams.core.disclosure import open_disclosure
from streams.core.intake import check_notice
from streams.core.notices import (
    MAX_REASON_CHARS,
    EventLedger,
    Sent,
    build_notice,
    check_request,
    notice_id,
    request,
)
from streams.errors import (
    NoticeInvalidError,
    NoticeRefusedError,
    ReportInvalidError,
    SignatureError,
)
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement
from tests.unit.test_disclosure import EXCHANGE_ID, KEYS, SCHEMAS, SIGNING, build, through_avro

EVENT = "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60"
LATER = "1c0a3b9f-7d2e-4f8b-a04c-3e6d9b2f5a71"


def recall(**overrides: Any) -> dict[str, Any]:
    fields = {"reason": "the source withdrew"} | overrides
    return request(
        "recall", fields.pop("event_id", EVENT), fields.pop("unit", "KZ-PIU-1"), NOW, **fields
    )


def problems(error: pytest.ExceptionInfo[NoticeInvalidError]) -> dict[str, str]:
    return {p.field: p.reason for p in error.value.problems}


def test_a_recall_request_is_checked_field_by_field() -> None:
    """A good request round-trips through its schema; an empty, oversized or control-character
    reason, a malformed event id and a correction of itself are each named."""
    good = recall()
    assert through_avro(good, "intelshare.ReportNotice") == good
    assert check_request(good) == good
    assert len(recall(reason="x" * MAX_REASON_CHARS)["reason"]) == MAX_REASON_CHARS
    cases = {
        "reason": [
            {"reason": "  "},
            {"reason": "x" * (MAX_REASON_CHARS + 1)},
            {"reason": "a\x00b"},
        ],
        "event_id": [{"event_id": "not-a-uuid"}, {"event_id": 7}],
        "unit_id": [{"unit": "no spaces allowed"}],
    }
    for field, overrides in cases.items():
        for override in overrides:
            with pytest.raises(NoticeInvalidError) as caught:
                recall(**override)
            assert field in problems(caught), (override, caught.value)
    with pytest.raises(NoticeInvalidError) as caught:
        request("recall", EVENT, "KZ-PIU-1", NOW)
    assert problems(caught) == {"reason": "is required: say why the report is recalled"}
    with pytest.raises(NoticeInvalidError) as caught:
        request("correction", EVENT, "KZ-PIU-1", NOW, corrected_by=EVENT)
    assert "names the report itself" in problems(caught)["corrects"]
    with pytest.raises(NoticeInvalidError) as caught:
        check_request(recall() | {"kind": "erase"})
    assert "kind" in problems(caught)


def test_intake_checks_the_request_and_its_key() -> None:
    """A request must be keyed by the event id it concerns (so it reaches that report's
    partition); a malformed one is a dead letter."""
    from streams.core.codec import Codec

    codec = Codec(SCHEMAS, "intelshare.ReportNotice")
    value = codec.encode(recall())
    assert check_notice(value, EVENT.encode(), codec)["event_id"] == EVENT
    with pytest.raises(ReportInvalidError, match="differs from the message key"):
        check_notice(value, LATER.encode(), codec)
    bad = codec.encode(recall() | {"reason": ""})
    with pytest.raises(NoticeInvalidError) as caught:
        check_notice(bad, EVENT.encode(), codec)
    assert caught.value.dead_letter


def _ledger_with(*agreements: str) -> EventLedger:
    ledger = EventLedger()
    report = enriched(event_id=EVENT, unit_id="KZ-PIU-1")
    for agreement_id in agreements:
        (due,) = ledger.to_disclose(report, [make_agreement(id=agreement_id)])
        ledger.disclosed(f"d-{agreement_id}", due, NOW)
    return EventLedger(json.loads(json.dumps(ledger.dump())))  # as state keeps it


def test_a_recalled_event_is_never_disclosed_again() -> None:
    """Before the recall a new agreement discloses the event; after it, no agreement does."""
    ledger = _ledger_with("A-1")
    report = enriched(event_id=EVENT, unit_id="KZ-PIU-1")
    assert [a.id for a in ledger.to_disclose(report, [make_agreement(id="A-2")])] == ["A-2"]
    ledger.answer(recall())
    assert ledger.to_disclose(report, [make_agreement(id="A-2")]) == []
    assert EventLedger(ledger.dump()).to_disclose(report, [make_agreement(id="A-3")]) == []


def test_an_event_is_disclosed_once_per_agreement() -> None:
    """The same agreement never discloses the same event twice."""
    ledger = _ledger_with("A-1")
    report = enriched(event_id=EVENT, unit_id="KZ-PIU-1")
    assert ledger.to_disclose(report, [make_agreement(id="A-1")]) == []


def test_a_recall_reaches_each_recipient_once() -> None:
    """The first recall names every disclosure; a repeated one, none."""
    ledger = _ledger_with("A-1", "A-2")
    due = ledger.answer(recall())
    assert [(s.disclosure_id, i) for s, i in due] == [
        ("d-A-1", notice_id("recall", "d-A-1")),
        ("d-A-2", notice_id("recall", "d-A-2")),
    ]
    assert ledger.answer(recall(reason="again")) == []


def test_a_correction_is_sent_once_per_correcting_report() -> None:
    """One notice per recipient and correcting report; a second correcting report is new."""
    ledger = _ledger_with("A-1")
    fix = request("correction", EVENT, "KZ-PIU-1", NOW, corrected_by=LATER)
    assert len(ledger.answer(fix)) == 1
    assert ledger.answer(fix) == []
    other = request("correction", EVENT, "KZ-PIU-1", NOW, corrected_by=EVENT.replace("0b", "0c"))
    assert len(ledger.answer(other)) == 1


def test_a_request_about_an_unknown_event_or_from_another_unit_is_refused() -> None:
    """Refused naming why, and the ledger is unchanged: the event stays disclosable."""
    with pytest.raises(NoticeRefusedError, match="no report with event id"):
        EventLedger().answer(recall())
    ledger = _ledger_with("A-1")
    with pytest.raises(NoticeRefusedError, match="submitted by unit KZ-PIU-1, not KG-PIU-2"):
        ledger.answer(recall(unit="KG-PIU-2"))
    assert not ledger.recalled
    assert ledger.notices == []


def _notice(kind: str = "recall") -> tuple[dict[str, Any], dict[str, Any], X25519PrivateKey]:
    private = X25519PrivateKey.generate()
    sent = Sent("d-1", "kz-knb", "KZ-KNB-2026-01", 3, 1_700_000_000_000)
    req = (
        recall()
        if kind == "recall"
        else request("correction", EVENT, "KZ-PIU-1", NOW, corrected_by=LATER)
    )
    message, pending = build_notice(
        req, sent, notice_id(kind, "d-1", req["corrected_by"]),
        recipient_public=private.public_key(),
        recipient_key_id=key_id(private.public_key().public_bytes_raw()),
        signing_key=SIGNING, exchange_key_id=EXCHANGE_ID, purpose="p", legal_basis="l",
        now=NOW,
    )  # fmt: skip
    return message, pending, private


@pytest.mark.parametrize("kind", ["recall", "correction"])
def test_a_notice_opens_like_a_disclosure_and_its_kind_is_signed(kind: str) -> None:
    """The recipient verifies and decrypts a notice with its usual key; changing its kind or
    the disclosure it names breaks the signature. Both records fit their schemas."""
    message, pending, private = _notice(kind)
    assert through_avro(message, "intelshare.Disclosure") == message
    assert through_avro(pending, "intelshare.AuditRecord") == pending
    payload = open_disclosure(message, private, KEYS)
    assert (payload["type"], payload["refers_to"], payload["event_id"]) == (kind, "d-1", EVENT)
    assert payload["disclosed_at"] == "2023-11-14T22:13:20Z"
    for field, value in [("kind", "disclosure"), ("refers_to", "d-2"), ("refers_to", None)]:
        with pytest.raises(SignatureError):
            open_disclosure(message | {field: value}, private, KEYS)
    assert (pending["kind"], pending["refers_to"], pending["subjects"]) == (kind, "d-1", [])


def test_notices_chain_reconcile_and_count_by_kind() -> None:
    """A disclosure and a recall of it: the chain verifies, the feed reconciles with the log,
    and stats count one of each kind, the recall not as a disclosure."""
    disclosure, pending, _ = build()
    message, notice_pending, _ = _notice()
    records: list[dict[str, Any]] = []
    for entry in (pending, notice_pending):
        records.append(
            seal_record(
                entry, sequence=len(records),
                prev_hash=records[-1]["hash"] if records else GENESIS,
                key_id=EXCHANGE_ID, signing_key=SIGNING, now=NOW + timedelta(seconds=1),
            )
        )  # fmt: skip
    assert verify_chain(records, KEYS) == 2
    assert reconcile(records, [disclosure, message]) == []
    figures = stats(records)
    assert figures["disclosures"] == 1
    assert figures["per_kind"]["disclosure"] == figures["per_kind"]["recall"] == 1
    assert list(figures["per_kind"])[:6] == [
        "collection", "alteration", "consultation", "disclosure", "combination", "erasure",
    ]  # fmt: skip
    assert sum(figures["per_recipient"].values()) == 1


def test_stats_count_feedback_per_recipient() -> None:
    """Feedback records count under their kind and as useful or not per recipient."""
    base = {"recipient": "a", "agreement_id": "A", "agreement_version": 1, "disclosed_at": NOW}
    records = [base | {"kind": "feedback", "useful": u} for u in (True, True, False)]
    figures = stats(records)
    assert figures["per_kind"]["feedback"] == 3
    assert figures["feedback"] == {"a": {"useful": 2, "not useful": 1}}
    assert figures["disclosures"] == 0


def test_the_stix_form_of_a_recall_revokes_the_report() -> None:
    """The recalled disclosure's report, same id and creation time, revoked; a correction is a
    note on that report."""
    from streams.formats.stix import disclosure_bundle, report_id

    message, _, private = _notice()
    entry = {
        "type": "recall", "disclosure_id": message["disclosure_id"],
        "disclosed_at": "2026-11-21T10:00:00Z", "payload": open_disclosure(message, private, KEYS),
    }  # fmt: skip
    objects = json.loads(disclosure_bundle(entry).serialize())["objects"]
    (report,) = [o for o in objects if o["type"] == "report"]
    assert (report["id"], report["revoked"]) == (report_id("d-1"), True)
    assert report["created"] == "2023-11-14T22:13:20.000Z"
    message, _, private = _notice("correction")
    entry |= {"type": "correction", "payload": open_disclosure(message, private, KEYS)}
    (note,) = [
        o
        for o in json.loads(disclosure_bundle(entry).serialize())["objects"]
        if o["type"] == "note"
    ]
    assert note["object_refs"] == [report_id("d-1")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["not-an-id", "--reason", "x"], "event_id"),
        ([EVENT, "--reason", "   "], "reason: must not be empty"),
        ([EVENT, "--reason", "x" * 1001], "reason: is 1001 characters, over the limit of 1000"),
    ],
    ids=["malformed-event", "empty-reason", "oversized-reason"],
)
def test_the_recall_command_refuses_a_malformed_request_before_any_connection(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1 naming the field, with no broker at all (nothing is read or sent)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    assert cli.main(["recall", *args]) == 1
    assert says in capsys.readouterr().err


def test_a_signed_request_passes_only_for_a_unit_its_user_may_speak_for() -> None:
    """Secure mode: intake checks the unit user's signature over the request and that the user
    speaks for its unit_id, as for a report; unsigned or another unit's, it is refused."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from streams.core.codec import Codec
    from streams.core.submission import sign_submission, unit_record
    from streams.errors import UnitNotAuthorisedError

    key = Ed25519PrivateKey.generate()
    record = unit_record("piu-1", ["KZ-PIU-1"], key.public_key().public_bytes_raw(), NOW)
    registry = {"piu-1": record}.get
    codec = Codec(SCHEMAS, "intelshare.ReportNotice")
    mine = codec.encode(recall())
    headers = sign_submission(mine, "piu-1", key)
    checked = check_notice(mine, EVENT.encode(), codec, headers=headers, units=registry)
    assert checked["unit_id"] == "KZ-PIU-1"
    theirs = codec.encode(recall(unit="KG-PIU-2"))
    with pytest.raises(UnitNotAuthorisedError):
        check_notice(
            theirs, EVENT.encode(), codec,
            headers=sign_submission(theirs, "piu-1", key), units=registry,
        )  # fmt: skip
    with pytest.raises(UnitNotAuthorisedError):
        check_notice(mine, EVENT.encode(), codec, headers=[], units=registry)
