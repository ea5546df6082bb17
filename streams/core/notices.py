"""Recall and correction: a unit's request about a report it submitted, and the signed notices
the exchange then sends each agency that received the report.

How a request travels, in the engine's terms. A unit may write only ``intel.submissions``, so
``intelshare recall`` (and ``submit`` of a report with ``corrects``) sends a
``intelshare.ReportNotice`` there, keyed by the event id of the report it concerns: it lands on
that report's partition, after it. Intake checks it like a report (in secure mode the unit's
signature, and that the signer may speak for its ``unit_id``), enrich passes it on unchanged
(intel.validated is one partition, so the order holds), and it reaches ``intel.enriched`` keyed
by the same event id, so the same partition and route instance as the report.

Which agencies received a report is the route agent's own state (:class:`EventLedger`), scoped
by quixstreams to the message key, the event id: route records each disclosure in it when it
makes one, in the transaction that writes the disclosure. Reading the audit log instead would
race the sequencer and could not be part of route's transaction. So a request is answered from
the ledger in one transaction: a notice on each recipient's feed, its pending audit record
(kind recall or correction, ``refers_to`` the disclosure), and the ledger marked, which makes
the answer exactly once per agency (a request processed again after a crash finds the mark, or
the whole transaction was aborted). A recalled event is never disclosed again: route consults
the ledger before every disclosure. A refused request (unknown event, another unit) is a dead
letter whose reason says why.

Events routed before this ledger existed have none: a recall of one is refused as unknown.

Pure: no Kafka; keys, clock and sealer are parameters.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from streams.core.crypto import BatchSealer
from streams.core.disclosure import payload_bytes, pending_record, seal_message
from streams.core.fields import EVENT_ID, Checker
from streams.core.policy import Agreement
from streams.core.times import format_time, to_millis
from streams.errors import NoticeInvalidError, NoticeRefusedError
from streams.i18n import msg

__all__ = [
    "LABELS",
    "MAX_REASON_CHARS",
    "NOTICE_KINDS",
    "EventLedger",
    "Sent",
    "build_notice",
    "check_request",
    "notice_id",
    "request",
]

NOTICE_KINDS = ("recall", "correction")
"""The requests a unit makes about its report, and the notices they become."""
LABELS = {"recall": msg("recall"), "correction": msg("correction")}
"""How a rejection names a request of each kind (``recall rejected: reason: ...``)."""
MAX_REASON_CHARS = 1000
"""The longest reason a recall may give."""
_NAMESPACE = uuid.UUID("3f0c7b9e-2a4d-4c61-8e5f-9b1d6a7c2e40")
"""Fixed namespace of notice ids; changing it changes every id."""


def request(
    kind: str,
    event_id: object,
    unit_id: object,
    now: datetime,
    *,
    reason: object = None,
    corrected_by: object = None,
) -> dict[str, Any]:
    """A checked ReportNotice record; NoticeInvalidError names every field at fault."""
    return check_request(
        {
            "kind": kind,
            "event_id": event_id,
            "unit_id": unit_id,
            "reason": reason,
            "corrected_by": corrected_by,
            "requested_at": to_millis(now),
        }
    )


def check_request(record: Mapping[str, Any]) -> dict[str, Any]:
    """The request if it is well formed (as made by a unit, or decoded by intake)."""
    check = Checker()
    kind = check.one_of(record.get("kind"), NOTICE_KINDS, "kind")
    event_id = _event_id(check, record.get("event_id"), "event_id")
    unit_id = check.identifier(record.get("unit_id"), "unit_id")
    reason, corrected_by = record.get("reason"), record.get("corrected_by")
    if kind == "recall" or reason is not None:
        if reason is None:
            check.fail("reason", msg("is required: say why the report is recalled"))
        else:
            reason = check.text(reason, "reason", MAX_REASON_CHARS, multiline=True)
    if kind == "correction":
        corrected_by = _event_id(check, corrected_by, "corrects")
        if corrected_by is not None and corrected_by == event_id:
            check.fail("corrects", msg("names the report itself; name the report it corrects"))
    elif corrected_by is not None:
        check.fail("corrected_by", msg("is only for a correction"))
    if not isinstance(record.get("requested_at"), datetime):
        check.fail("requested_at", msg("is required"))
    if check.problems:
        raise NoticeInvalidError(check.problems, label=LABELS.get(kind or "", msg("request")))
    return {
        "kind": kind,
        "event_id": event_id,
        "unit_id": unit_id,
        "reason": reason,
        "corrected_by": corrected_by,
        "requested_at": record["requested_at"],
    }


def _event_id(check: Checker, value: Any, path: str) -> str | None:
    if value is None:
        check.fail(path, msg("is required"))
    elif isinstance(value, str) and EVENT_ID.fullmatch(value):
        return value.lower()
    else:
        check.fail(path, msg("is not an event id (a UUID, 8-4-4-4-12 hexadecimal digits)"))
    return None


def notice_id(kind: str, refers_to: str, corrected_by: str | None = None) -> str:
    """Deterministic id of one notice about one disclosure (a UUID5): a request processed
    again yields the same id, and a notice id never equals a disclosure id."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}|{refers_to}|{corrected_by or ''}"))


class Sent(NamedTuple):
    """One disclosure of an event, as route remembers it."""

    disclosure_id: str
    """The disclosure."""
    recipient: str
    """The agency that received it."""
    agreement_id: str
    """The agreement it was made under."""
    agreement_version: int
    """That agreement's version."""
    disclosed_at: int
    """When it was disclosed, epoch milliseconds."""


class EventLedger:
    """What route knows of one event: its unit, whom it was disclosed to, whether it was
    recalled, the notices already sent and the feedback given. Kept as JSON in route's state,
    per event id."""

    def __init__(self, raw: Mapping[str, Any] | None = None) -> None:
        raw = raw or {}
        self.unit: str | None = raw.get("unit")
        self.sent = [Sent(*entry) for entry in raw.get("sent", [])]
        self.recalled: bool = bool(raw.get("recalled", False))
        self.notices: list[str] = list(raw.get("notices", []))
        self.feedback: list[str] = list(raw.get("feedback", []))
        """The ids of the feedback agencies gave on its disclosures (streams.core.feedback)."""
        self.corrected_by: list[str] = list(raw.get("corrected_by", []))
        """The events that corrected it, each recorded once as an alteration."""

    def dump(self) -> dict[str, Any]:
        """The JSON form kept in state."""
        return (
            {
                "unit": self.unit,
                "sent": [list(s) for s in self.sent],
                "recalled": self.recalled,
                "notices": self.notices,
            }
            | ({"feedback": self.feedback} if self.feedback else {})
            | ({"corrected_by": self.corrected_by} if self.corrected_by else {})
        )

    def seen(self) -> bool:
        """Whether route has taken in a report of this event (its collection is recorded)."""
        return self.unit is not None

    def correction(self, notice: Mapping[str, Any]) -> bool:
        """Whether an answered request (:meth:`answer`) is a correction not seen before,
        marking it seen: its alteration is recorded once."""
        by = notice.get("corrected_by")
        if notice["kind"] != "correction" or by is None or by in self.corrected_by:
            return False
        self.corrected_by.append(by)
        return True

    def to_disclose(
        self, report: Mapping[str, Any], agreements: Iterable[Agreement]
    ) -> list[Agreement]:
        """The agreements ``report`` is to be disclosed under now: none once it was recalled,
        and never one it was already disclosed under (each pair at most once)."""
        if self.unit is None:
            self.unit = report["unit_id"]
        if self.recalled:
            return []
        done = {s.agreement_id for s in self.sent}
        return [a for a in agreements if a.id not in done]

    def disclosed(self, disclosure_id: str, agreement: Agreement, when: datetime) -> None:
        """Remember one disclosure made."""
        millis = round(to_millis(when).timestamp() * 1000)
        self.sent.append(
            Sent(disclosure_id, agreement.recipient, agreement.id, agreement.version, millis)
        )

    def answer(self, notice: Mapping[str, Any]) -> list[tuple[Sent, str]]:
        """The (disclosure, notice id) pairs a checked request calls for, marking them sent:
        NoticeRefusedError when the event is unknown or the unit is not the report's; none
        for a request already answered."""
        event, kind = notice["event_id"], notice["kind"]
        if self.unit is None:
            raise NoticeRefusedError(_unknown(kind, event))
        if notice["unit_id"] != self.unit:
            raise NoticeRefusedError(_not_its_own(kind, event, self.unit, notice["unit_id"]))
        if kind == "recall":
            if self.recalled:
                return []
            self.recalled = True
        due = []
        for sent in self.sent:
            ident = notice_id(kind, sent.disclosure_id, notice.get("corrected_by"))
            if ident not in self.notices:
                self.notices.append(ident)
                due.append((sent, ident))
        return due


def notice_payload(notice: Mapping[str, Any], sent: Sent) -> dict[str, Any]:
    """What the recipient reads once it decrypts a notice."""
    return {
        "type": notice["kind"],
        "refers_to": sent.disclosure_id,
        "event_id": notice["event_id"],
        "disclosed_at": format_time(datetime.fromtimestamp(sent.disclosed_at / 1000, UTC)),
        "reason": notice["reason"],
        "corrected_by": notice["corrected_by"],
        "requested_at": format_time(notice["requested_at"]),
    }


def build_notice(
    notice: Mapping[str, Any],
    sent: Sent,
    ident: str,
    *,
    recipient_public: X25519PublicKey,
    recipient_key_id: str,
    signing_key: Ed25519PrivateKey,
    exchange_key_id: str,
    purpose: str,
    legal_basis: str,
    now: datetime,
    sealer: BatchSealer | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The feed message (a Disclosure record of kind recall or correction, encrypted and
    signed like a disclosure) and its pending audit record, for one recipient."""
    now = to_millis(now)
    payload = payload_bytes(notice_payload(notice, sent))
    message, signed = seal_message(
        disclosure_id=ident,
        event_id=notice["event_id"],
        agreement_id=sent.agreement_id,
        agreement_version=sent.agreement_version,
        recipient=sent.recipient,
        disclosed_at=now,
        recipient_key_id=recipient_key_id,
        exchange_key_id=exchange_key_id,
        kind=notice["kind"],
        refers_to=sent.disclosure_id,
        payload=payload,
        recipient_public=recipient_public,
        signing_key=signing_key,
        sealer=sealer,
    )
    pending = pending_record(
        notice["kind"],
        disclosure_id=ident,
        event_id=notice["event_id"],
        agreement_id=sent.agreement_id,
        agreement_version=sent.agreement_version,
        recipient=sent.recipient,
        purpose=purpose,
        legal_basis=legal_basis,
        now=now,
        payload_sha256=hashlib.sha256(payload).digest(),
        disclosure_sha256=hashlib.sha256(signed).digest(),
        refers_to=sent.disclosure_id,
        reason=notice["reason"],
    )
    return message, pending


def _unknown(kind: str, event: str) -> str:
    """Why a request about an event routing never saw is refused (one sentence per kind)."""
    if kind == "recall":
        return msg(
            "recall refused: no report with event id {event_id} reached the exchange's "
            "routing; check the event id with `intelshare status`",
            event_id=event,
        )
    return msg(
        "correction refused: no report with event id {event_id} reached the exchange's "
        "routing; check the event id with `intelshare status`",
        event_id=event,
    )


def _not_its_own(kind: str, event: str, owner: str, asking: str) -> str:
    """Why a request from a unit that did not submit the report is refused."""
    if kind == "recall":
        return msg(
            "recall refused: report {event_id} was submitted by unit {owner}, not {unit}; a "
            "unit may recall only its own reports",
            event_id=event,
            owner=owner,
            unit=asking,
        )
    return msg(
        "correction refused: report {event_id} was submitted by unit {owner}, not {unit}; a "
        "unit may correct only its own reports",
        event_id=event,
        owner=owner,
        unit=asking,
    )
