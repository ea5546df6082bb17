"""Feedback: a recipient agency tells the unit that wrote a report whether its disclosure was
useful, without re-sharing anything. Pure: no Kafka; keys, clock and sealer are parameters.

How it travels. ``intelshare feedback DISCLOSURE_ID --useful yes|no [--note TEXT]`` (the
agency) signs a ``Feedback`` record with the agency's receipt key (the Ed25519 ``ID.sign.key``
that signs its consultation receipts, registered with the agency on ``intel.ref.agencies``) and
writes it to ``intel.feedback``, a topic of its own: agencies may write it and nothing else
reads it but the worker, so a feedback never shares a topic with the receipts oversight reads,
nor gives an agency any right on ``intel.submissions``. It is keyed by the disclosure's event
id, which the command reads from the envelope of the disclosure on the agency's own feed (so an
id that is not on that feed is refused before anything is sent). Its note is in clear there,
as a report is on the intermediate topics, and kept as long
(``INTELSHARE_RETENTION_INTERMEDIATE_DAYS``).

Intake consumes ``intel.feedback`` beside ``intel.submissions``, checks that a record is well
formed and keyed by its event id, and relays it unchanged to ``intel.enriched`` under that key:
it reaches the route instance whose state holds the event's ledger
(:class:`streams.core.notices.EventLedger`), which knows which agencies got which disclosure.
Route then refuses it, as a dead letter whose reason says why, unless all of these hold
(:func:`feedback_due`): the event is known; the disclosure was made to the agency named; the
signature verifies under the receipt key that agency registered (:func:`verify_feedback`); the
agency has not given feedback on that disclosure before (a second one is refused, not
replaced: the audit log counts one answer per disclosure and agency, and a changed mind is a
note to the unit by other means); and the report's unit has a registered key. Otherwise, in one
transaction with the ledger's mark, route writes the feedback message, sealed and signed like a
disclosure (:func:`streams.core.disclosure.seal_message`, ``kind`` feedback, ``refers_to`` the
disclosure) and encrypted to the unit's X25519 key, on ``intel.feedback.<unit>``, and its audit
record (kind feedback, ``useful``, ``recipient`` the agency that gave it, ``refers_to`` the
disclosure): ``audit stats`` counts it per agency.

Units. A unit's X25519 pair is made like an agency's (``intelshare keys generate --unit ID``:
``ID.unit.key`` 0600, ``ID.unit.pub``) and its public key registered by the operators
(``intelshare units register --id ID --public-key FILE``) on the compacted
``intel.ref.unitkeys``, keyed by the unit id that its reports carry; registering creates its
topic. ``intelshare feedback list --unit ID`` reads that topic, checks the exchange's
signature and decrypts each message. On the secure broker a unit user may read the topics of
its own units only (``users add --role unit NAME --unit ID``), and an agency may write
``intel.feedback`` but read nothing of it; Kafka does not tell the exchange who wrote a record,
so that the feedback is the agency's own rests on its signature, as a unit's report rests on
its submission signature.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from streams.core.canonical import canonical
from streams.core.crypto import BatchSealer, key_id, sign, verify
from streams.core.disclosure import payload_bytes, pending_record, seal_message
from streams.core.fields import AGENCY_ID, EVENT_ID, IDENTIFIER, IDENTIFIER_RULE, clean_text, show
from streams.core.keyfiles import x25519_pair
from streams.core.notices import EventLedger, Sent
from streams.core.times import format_time, to_millis
from streams.errors import ConfigError, FeedbackInvalidError, FeedbackRefusedError, SignatureError
from streams.i18n import msg

__all__ = [
    "FEEDBACK",
    "MAX_NOTE_CHARS",
    "build_feedback",
    "check_disclosure_id",
    "check_feedback",
    "check_note",
    "feedback_due",
    "feedback_id",
    "feedback_line",
    "generate_unit_keys",
    "make_feedback",
    "unit_key_record",
    "verify_feedback",
]

FEEDBACK = "feedback"
"""The ``kind`` of a feedback message and of its audit record."""
MAX_NOTE_CHARS = 1000
"""The longest note a feedback may carry, in characters."""
_DOMAIN = "intelshare-feedback-v1"
_NAMESPACE = uuid.UUID("6e2a9c41-7b3d-4f05-8a1e-c4d2b9f70e63")
"""Fixed namespace of feedback ids; changing it changes every id."""


def check_note(note: object) -> str | None:
    """The note, or None for none; FeedbackInvalidError unless it is text of at most
    :data:`MAX_NOTE_CHARS` characters on one line without control characters."""
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS or not clean_text(note):
        raise FeedbackInvalidError(
            msg(
                "--note: at most {limit} characters on one line, without control characters",
                limit=MAX_NOTE_CHARS,
            )
        )
    return note.strip() or None


def check_disclosure_id(value: object) -> str:
    """A disclosure id as consume prints it, lower-cased; FeedbackInvalidError otherwise."""
    if not isinstance(value, str) or not EVENT_ID.fullmatch(value):
        raise FeedbackInvalidError(
            msg("{value} is not a disclosure id (a UUID, as consume prints it)", value=show(value))
        )
    return value.lower()


def feedback_id(disclosure_id: str, agency_id: str) -> str:
    """Deterministic id of an agency's feedback on one disclosure (a UUID5): feedback given
    twice has the same id, and it never equals a disclosure or notice id."""
    return str(uuid.uuid5(_NAMESPACE, f"{disclosure_id}|{agency_id}"))


def _signed(record: Mapping[str, Any]) -> bytes:
    return canonical(
        _DOMAIN, record["disclosure_id"], record["event_id"], record["agency_id"],
        record["useful"], record["note"], record["given_at"], record["key_id"],
    )  # fmt: skip


def make_feedback(
    disclosure_id: object,
    event_id: str,
    agency_id: str,
    useful: bool,
    note: object,
    key: Ed25519PrivateKey,
    now: datetime,
) -> dict[str, Any]:
    """A checked Feedback record signed with the agency's receipt ``key``."""
    record = {
        "disclosure_id": check_disclosure_id(disclosure_id),
        "event_id": event_id,
        "agency_id": agency_id,
        "useful": useful,
        "note": check_note(note),
        "given_at": to_millis(now),
        "key_id": key_id(key.public_key().public_bytes_raw()),
    }
    record["signature"] = sign(key, _signed(record))
    return check_feedback(record)


def check_feedback(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record if it is well formed (ids, a boolean ``useful``, a clean note, a time and a
    signature): FeedbackInvalidError naming what is not (in English, as dead letters are; the
    command line makes well-formed records and checks the note first). The signature is
    checked by route, which holds the agency's registered key (:func:`verify_feedback`)."""
    check_disclosure_id(record.get("disclosure_id"))
    event = record.get("event_id")
    if not isinstance(event, str) or not EVENT_ID.fullmatch(event):
        raise FeedbackInvalidError("event_id: is not an event id")
    agency = record.get("agency_id")
    if not isinstance(agency, str) or not AGENCY_ID.fullmatch(agency):
        raise FeedbackInvalidError("agency_id: is not an agency id")
    if not isinstance(record.get("useful"), bool):
        raise FeedbackInvalidError("useful: must be true or false")
    check_note(record.get("note"))
    if not isinstance(record.get("given_at"), datetime):
        raise FeedbackInvalidError("given_at: is required")
    if not isinstance(record.get("key_id"), str) or not isinstance(record.get("signature"), bytes):
        raise FeedbackInvalidError("signature: is required")
    return dict(record)


def verify_feedback(record: Mapping[str, Any], registered: bytes) -> None:
    """FeedbackRefusedError unless ``record`` is signed by ``registered``, the raw Ed25519
    receipt key its agency registered (empty: the agency registered none)."""
    agency = record["agency_id"]
    if len(registered) != 32 or key_id(registered) != record["key_id"]:
        raise FeedbackRefusedError(
            f"feedback refused: agency {agency} has no registered receipt key with id "
            f"{str(record['key_id'])[:40]}; register its ID.sign.pub (intelshare agencies "
            "register --replace)"
        )
    try:
        verify(Ed25519PublicKey.from_public_bytes(registered), record["signature"], _signed(record))
    except SignatureError:
        raise FeedbackRefusedError(
            f"feedback refused: the signature does not verify under agency {agency}'s "
            "registered receipt key"
        ) from None


def feedback_due(
    ledger: EventLedger,
    record: Mapping[str, Any],
    *,
    unit_registered: bool = True,
) -> tuple[Sent, str]:
    """The disclosure a checked feedback is on and the feedback's id, marking it given:
    FeedbackRefusedError when the event is unknown, the disclosure was not made to the agency
    that gives the feedback, that agency gave feedback on it already, or the report's unit
    has no registered key (``unit_registered``; then it is not marked, so it may be given
    again once the unit is registered)."""
    disclosure, agency = record["disclosure_id"], record["agency_id"]
    sent = next((s for s in ledger.sent if s.disclosure_id == disclosure), None)
    if ledger.unit is None or sent is None or sent.recipient != agency:
        raise FeedbackRefusedError(
            f"feedback refused: disclosure {disclosure} of event {record['event_id']} was not "
            f"made to agency {agency}"
        )
    ident = feedback_id(disclosure, agency)
    if ident in ledger.feedback:
        raise FeedbackRefusedError(
            f"feedback refused: agency {agency} gave feedback on disclosure {disclosure} "
            "already (the first stands)"
        )
    if not unit_registered:
        raise FeedbackRefusedError(
            f"feedback refused: unit {ledger.unit} has no registered key; register one "
            "with `intelshare units register`"
        )
    ledger.feedback.append(ident)
    return sent, ident


def build_feedback(
    record: Mapping[str, Any],
    sent: Sent,
    ident: str,
    *,
    unit_id: str,
    unit_public: X25519PublicKey,
    unit_key_id: str,
    signing_key: Ed25519PrivateKey,
    exchange_key_id: str,
    now: datetime,
    sealer: BatchSealer | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The feedback message to ``unit_id`` (a Disclosure record of kind feedback, sealed to
    the unit and signed by the exchange) and its pending audit record."""
    now = to_millis(now)
    payload = payload_bytes(
        {
            "type": FEEDBACK,
            "refers_to": sent.disclosure_id,
            "event_id": record["event_id"],
            "agency": record["agency_id"],
            "useful": record["useful"],
            "note": record["note"],
            "given_at": format_time(record["given_at"]),
        }
    )
    message, signed = seal_message(
        disclosure_id=ident,
        event_id=record["event_id"],
        agreement_id=sent.agreement_id,
        agreement_version=sent.agreement_version,
        recipient=unit_id,
        disclosed_at=now,
        recipient_key_id=unit_key_id,
        exchange_key_id=exchange_key_id,
        kind=FEEDBACK,
        refers_to=sent.disclosure_id,
        payload=payload,
        recipient_public=unit_public,
        signing_key=signing_key,
        sealer=sealer,
    )
    pending = pending_record(
        FEEDBACK,
        disclosure_id=ident,
        event_id=record["event_id"],
        agreement_id=sent.agreement_id,
        agreement_version=sent.agreement_version,
        recipient=sent.recipient,
        purpose="feedback",
        legal_basis="",
        now=now,
        disclosure_sha256=hashlib.sha256(signed).digest(),
        refers_to=sent.disclosure_id,
        useful=record["useful"],
    )
    return message, pending


def feedback_line(payload: Mapping[str, Any]) -> str:
    """One line of ``feedback list``: disclosure id, agency, useful yes or no, time, note."""
    useful = "yes" if payload.get("useful") else "no"
    fields = (
        str(payload.get("refers_to")), str(payload.get("agency")), f"useful={useful}",
        str(payload.get("given_at")), payload.get("note") or "",
    )  # fmt: skip
    return "\t".join(fields)


def generate_unit_keys(directory: Path, unit_id: str) -> tuple[Path, Path]:
    """Write ``ID.unit.key`` (0600) and ``ID.unit.pub`` as for an agency: the pair a unit's
    feedback is encrypted to. ConfigError for an id that is not a unit id."""
    if not IDENTIFIER.fullmatch(unit_id):  # the id becomes a file and a topic name
        raise ConfigError(
            msg("unit id {unit_id!r} must be {rule}", unit_id=unit_id, rule=IDENTIFIER_RULE)
        )
    return x25519_pair(directory, f"{unit_id}.unit")


def unit_key_record(unit_id: object, public_key: bytes, now: datetime) -> dict[str, Any]:
    """The intel.ref.unitkeys record (schemas/unit_key.v1.avsc) of one unit;
    FeedbackInvalidError for an id that could not name its topic or a key not 32 bytes."""
    if not isinstance(unit_id, str) or not IDENTIFIER.fullmatch(unit_id):
        raise FeedbackInvalidError(
            msg("unit id {unit_id!r} must be {rule}", unit_id=unit_id, rule=IDENTIFIER_RULE)
        )
    if len(public_key) != 32:
        raise FeedbackInvalidError("public_key: not a 32-byte X25519 public key")
    return {
        "unit_id": unit_id,
        "public_key": public_key,
        "key_id": key_id(public_key),
        "registered_at": to_millis(now),
    }
