"""Feedback, the pure parts: an agency's signed feedback, checked against route's ledger and
the agency's registered receipt key, sealed to the report's unit only, audited as kind
feedback; and the command's refusals of bad input before any connection."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams import cli
from streams.audit.chain import GENESIS, seal_record, verify_chain
from streams.audit.recheck import recheck
from streams.audit.records import reconcile, stats
from streams.core.crypto import key_id
from streams.core.disclosure import disclosure_digest, open_disclosure
from streams.core.feedback import (
    MAX_NOTE_CHARS,
    build_feedback,
    check_feedback,
    check_note,
    feedback_due,
    feedback_id,
    feedback_line,
    generate_unit_keys,
    make_feedback,
    unit_key_record,
    verify_feedback,
)
from streams.core.notices import EventLedger, Sent
from streams.errors import (
    ConfigError,
    DecryptionError,
    FeedbackInvalidError,
    FeedbackRefusedError,
    KeyFileError,
)
from tests.factories import NOW
from tests.unit.core import make_agreement
from tests.unit.test_disclosure import EXCHANGE_ID, KEYS, SIGNING, through_avro

EVENT = "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60"
DISCLOSURE = "5c9d1a3e-2f7b-4c6d-8e0a-b1f3d5c7e9a2"
OTHER_DISCLOSURE = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
UNIT = "KZ-PIU-ASTANA"
AGENCY_KEY = Ed25519PrivateKey.generate()
REGISTERED = AGENCY_KEY.public_key().public_bytes_raw()
UNIT_KEY = X25519PrivateKey.generate()


def given(useful: bool = True, note: str | None = "led to a search", **changes: Any) -> dict:
    record = make_feedback(DISCLOSURE, EVENT, "a-one", useful, note, AGENCY_KEY, NOW)
    return record | changes


def ledger() -> EventLedger:
    """An event of UNIT disclosed to a-one (DISCLOSURE) and a-two (OTHER_DISCLOSURE)."""
    millis = int(NOW.timestamp() * 1000)
    return EventLedger(
        {
            "unit": UNIT,
            "sent": [
                [DISCLOSURE, "a-one", "R-1", 1, millis],
                [OTHER_DISCLOSURE, "a-two", "R-2", 3, millis],
            ],
        }
    )


def test_feedback_is_signed_by_the_agency_and_survives_avro() -> None:
    """A feedback record holds every field of its schema and verifies under the key its
    agency registered after an Avro round trip."""
    record = through_avro(given(), "intelshare.Feedback")
    verify_feedback(check_feedback(record), REGISTERED)
    assert (record["useful"], record["note"]) == (True, "led to a search")


@pytest.mark.parametrize(
    "change",
    [{"useful": False}, {"note": "changed"}, {"disclosure_id": OTHER_DISCLOSURE}],
)
def test_a_changed_feedback_does_not_verify(change: dict[str, Any]) -> None:
    """Any signed field changed after signing: refused naming the signature."""
    with pytest.raises(FeedbackRefusedError, match="signature does not verify"):
        verify_feedback(given() | change, REGISTERED)


def test_a_feedback_signed_with_another_key_is_refused() -> None:
    """Signed by a key that is not the agency's registered receipt key (a wrong key, or an
    agency that registered none): refused, naming the agency."""
    forged = make_feedback(
        DISCLOSURE, EVENT, "a-one", True, None, Ed25519PrivateKey.generate(), NOW
    )
    with pytest.raises(FeedbackRefusedError, match="agency a-one has no registered receipt key"):
        verify_feedback(forged, REGISTERED)
    with pytest.raises(FeedbackRefusedError, match="no registered receipt key"):
        verify_feedback(given(), b"")


@pytest.mark.parametrize(
    "note", ["x" * (MAX_NOTE_CHARS + 1), "two\nlines", "bell\x07", "bidi \u202e"]
)
def test_an_oversized_or_unclean_note_is_refused(note: str) -> None:
    """A note over 1000 characters or holding control characters: refused naming --note."""
    with pytest.raises(FeedbackInvalidError, match="--note"):
        check_note(note)


def test_a_note_is_optional_and_trimmed() -> None:
    """No note, or only spaces, is none; a note at the limit passes."""
    assert (check_note(None), check_note("  "), check_note(" ok ")) == (None, None, "ok")
    assert check_note("x" * MAX_NOTE_CHARS) == "x" * MAX_NOTE_CHARS


@pytest.mark.parametrize("bad", ["not-a-uuid", "", None, f"{{{DISCLOSURE}}}"])
def test_a_malformed_disclosure_id_is_refused(bad: object) -> None:
    """Only a disclosure id as consume prints it (a UUID) is accepted."""
    with pytest.raises(FeedbackInvalidError, match="is not a disclosure id"):
        make_feedback(bad, EVENT, "a-one", True, None, AGENCY_KEY, NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [("useful", "maybe"), ("agency_id", "A One"), ("event_id", "x"), ("signature", None)],
)
def test_a_malformed_feedback_record_is_refused(field: str, value: object) -> None:
    """What intake relays must be well formed; each fault names its field."""
    with pytest.raises(FeedbackInvalidError, match=field):
        check_feedback(given() | {field: value})


def test_feedback_is_due_only_from_the_agency_that_received_the_disclosure() -> None:
    """a-one's feedback on its disclosure is due once: marked, then a second is refused
    (the first stands), also after the ledger went through route's state as JSON."""
    book = ledger()
    sent, ident = feedback_due(book, given())
    assert (sent.disclosure_id, sent.recipient, ident) == (
        DISCLOSURE,
        "a-one",
        feedback_id(DISCLOSURE, "a-one"),
    )
    again = EventLedger(book.dump())
    with pytest.raises(FeedbackRefusedError, match="already"):
        feedback_due(again, given(useful=False))


def test_feedback_for_a_unit_with_no_key_is_refused_and_not_marked() -> None:
    """The report's unit has no registered key: refused, naming the unit and what to run, and
    not marked given, so the same feedback is due once the unit is registered; the checks of
    the disclosure come first."""
    book = ledger()
    with pytest.raises(FeedbackRefusedError, match=r"has no registered key.*units register"):
        feedback_due(book, given(), unit_registered=False)
    assert book.feedback == []
    feedback_due(book, given())
    with pytest.raises(FeedbackRefusedError, match="was not made to agency a-one"):
        feedback_due(ledger(), given(disclosure_id=OTHER_DISCLOSURE), unit_registered=False)


def test_feedback_on_another_agency_s_disclosure_or_an_unknown_event_is_refused() -> None:
    """a-one naming a-two's disclosure, or an event route never saw: refused, naming both."""
    with pytest.raises(FeedbackRefusedError, match="was not made to agency a-one"):
        feedback_due(ledger(), given(disclosure_id=OTHER_DISCLOSURE))
    with pytest.raises(FeedbackRefusedError, match="was not made to agency a-one"):
        feedback_due(EventLedger(), given())
    assert ledger().dump() == EventLedger(ledger().dump()).dump()  # no feedback key until given


def _built(record: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    sent = Sent(DISCLOSURE, "a-one", "R-1", 1, int(NOW.timestamp() * 1000))
    public = UNIT_KEY.public_key()
    return build_feedback(
        record or given(), sent, feedback_id(DISCLOSURE, "a-one"),
        unit_id=UNIT, unit_public=public, unit_key_id=key_id(public.public_bytes_raw()),
        signing_key=SIGNING, exchange_key_id=EXCHANGE_ID, now=NOW + timedelta(seconds=5),
    )  # fmt: skip


def test_the_unit_opens_its_feedback_and_no_one_else_can() -> None:
    """The message to the unit is a Disclosure of kind feedback, signed by the exchange: the
    unit's key opens it (one line: disclosure, agency, useful, time, note); another unit's
    key cannot."""
    message, _ = _built()
    message = through_avro(message, "intelshare.Disclosure")
    assert (message["kind"], message["refers_to"], message["recipient"]) == (
        "feedback",
        DISCLOSURE,
        UNIT,
    )
    payload = open_disclosure(message, UNIT_KEY, KEYS)
    line = feedback_line(payload).split("\t")
    assert line[:3] == [DISCLOSURE, "a-one", "useful=yes"]
    assert line[-1] == "led to a search"
    with pytest.raises(DecryptionError):
        open_disclosure(message, X25519PrivateKey.generate(), KEYS)


def test_feedback_is_audited_as_its_kind_and_counted() -> None:
    """The audit record: kind feedback, the agency as recipient, the disclosure it is on,
    useful, the digest of the message the unit got; it chains, stats count it per agency,
    and reconciling the feeds does not look for it on the agency's feed."""
    message, pending = _built(given(useful=False, note=None))
    assert (pending["kind"], pending["recipient"], pending["refers_to"], pending["useful"]) == (
        "feedback",
        "a-one",
        DISCLOSURE,
        False,
    )
    assert pending["disclosure_sha256"] == disclosure_digest(message)
    record = seal_record(
        through_avro(pending, "intelshare.AuditRecord"), sequence=0, prev_hash=GENESIS,
        key_id=EXCHANGE_ID, signing_key=SIGNING, now=NOW + timedelta(seconds=6),
    )  # fmt: skip
    assert verify_chain([record], KEYS) == 1
    assert stats([record])["feedback"] == {"a-one": {"useful": 0, "not useful": 1}}
    assert reconcile([record], []) == []
    revoked = make_agreement(id="R-1", recipient="a-one", version=1, revoked=True)
    outcome = recheck([record], {("R-1", 1): revoked})  # feedback is no disclosure it allowed
    assert (outcome.checked, outcome.unknown, outcome.breached_at) == (0, 0, None)


def test_a_unit_key_pair_is_written_private(tmp_path: Path) -> None:
    """keys generate --unit: ID.unit.key mode 0600 beside ID.unit.pub; never overwritten; an
    id that could not name a topic is refused."""
    private, public = generate_unit_keys(tmp_path, UNIT)
    assert (private.name, public.name) == (f"{UNIT}.unit.key", f"{UNIT}.unit.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    with pytest.raises(KeyFileError):
        generate_unit_keys(tmp_path, UNIT)
    with pytest.raises(ConfigError, match="unit id"):
        generate_unit_keys(tmp_path, "../x")
    record = through_avro(unit_key_record(UNIT, b"\x01" * 32, NOW), "intelshare.UnitKey")
    assert record["key_id"] == key_id(b"\x01" * 32)


@pytest.mark.parametrize(
    "argv",
    [
        ["feedback", DISCLOSURE, "--useful", "maybe", "--agency", "a-one"],
        ["feedback", DISCLOSURE, "--agency", "a-one"],
        ["feedback", "not-a-uuid", "--useful", "yes", "--agency", "a-one"],
        ["feedback", DISCLOSURE, "--useful", "no", "--agency", "a-one", "--note", "a\x1bb"],
        ["feedback", "list"],
    ],
)
def test_the_command_refuses_bad_input_before_any_connection(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--useful maybe, no --useful, a malformed id, a note with a control character, list
    without --unit: exit 2 with a message, and no broker is asked (none answers here)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own refusal of --useful maybe
        code = int(str(exc.code))
    assert code == 2
    assert capsys.readouterr().err.strip()
