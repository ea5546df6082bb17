"""route: intel.enriched -> intel.feed.<agency> + intel.audit.pending, in one transaction.

For each report, every agreement that covers it (``streams.core.policy``) yields one disclosure:
the minimised payload encrypted to the recipient and signed by the exchange
(``streams.core.disclosure``), and its pending audit entry. Both are written in the transaction that
commits the input offset, so a read_committed consumer never sees one without the other.

Route keeps, per event id (the input's key, to which quixstreams scopes its state), the event's
ledger (:class:`streams.core.notices.EventLedger`): its unit and whom it was disclosed to. A
recall or correction request reaches route on the same partition, keyed by the same event id,
and is answered from that ledger: one notice per recipient, in the same transaction as the
ledger's mark (see :mod:`streams.core.notices` for why there and not from the audit log).

An agency's feedback on a disclosure (relayed by intake, keyed by the event id) is answered
from the same ledger: checked (:func:`streams.core.feedback.feedback_due`), then sealed to the
report's unit on ``intel.feedback.<unit>`` with its audit entry, in the ledger's transaction.

The other processing operations of the Law Enforcement Directive's logging article are audited
here too (:mod:`streams.core.operations`), each in the transaction of its input: a report's
collection (the first time route sees its event id) and its combination with the reports enrich
linked it to, a correction's alteration (marked in the ledger: once per correcting report), and
an agency's consultation. Route reads the agencies' receipts on ``intel.receipts`` beside its
input; its state, scoped to the receipt's key (the disclosure id), keeps the consultations
recorded, so a receipt sent again records nothing, and one that does not verify under the
agency's registered receipt key is a dead letter. A receipt signed with a key the agency has
since replaced no longer verifies: its consultation is then not recorded (the dead letter says
why).

The audit entry names each subject by its commitment under the subject's data key
(``streams.core.erasure``). Route makes a subject's key the first time it routes a report that
names the subject, and writes it to ``intel.keys.subjects`` (with the commitment, keyed by the
subject's oversight link, to ``intel.keys.commitments``) in the same transaction as the entry
that uses it; it keeps the key in memory, and writes it again with each use, only until its
view of the key topic holds it, so an aborted transaction never leaves an entry committed under
a key the topic lacks. Two route instances that meet a new subject at the same moment each make
a key; compaction keeps the last written, and the entries under the other become unlinkable
early (they cannot be found by subject any more, as if erased). One instance, the default,
never races. An ``erase`` in the moment between a key's first use and the view's catching up
with it (well under a second) would be undone by the next report naming the subject, which
writes the remembered key again: erase a subject whose reports have stopped coming.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from agents.base import Agent, Context, Output, Record, State
from agents.deadletter import DeadLetters
from streams.audit.receipts import verified_receipts
from streams.core.crypto import BatchSealer, SubjectLinker
from streams.core.disclosure import build_disclosure
from streams.core.erasure import KeyLookup, commitment, new_subject_key
from streams.core.feedback import build_feedback, check_feedback, feedback_due, verify_feedback
from streams.core.notices import EventLedger, build_notice, check_request
from streams.core.operations import (
    alteration_record,
    collection_record,
    combination_record,
    consultation_record,
)
from streams.core.policy import route
from streams.core.report import report_to_json
from streams.errors import IntelshareError, ReceiptInvalidError
from streams.i18n import msg
from streams.topics import CHAIN_KEY

__all__ = ["RouteAgent"]

log = structlog.get_logger(__name__)

LEDGER = "ledger"
"""The state key of an event's ledger (the state is already scoped to the event id)."""
CONSULTED = "consulted"
"""The state key, scoped to a disclosure id, of its consultations recorded (their ids)."""


@functools.lru_cache(maxsize=1024)
def _public_key(raw: bytes) -> X25519PublicKey:
    """An agency's key object, parsed once per key rather than once per disclosure."""
    return X25519PublicKey.from_public_bytes(raw)


@functools.lru_cache(maxsize=4)
def _lookup(secret: bytes) -> KeyLookup:
    """The key topic's lookup of the exchange's secret, derived once."""
    return KeyLookup(secret)


class RecipientUnavailableError(IntelshareError):
    """An agreement names an agency with no registered public key."""

    dead_letter = True


class RouteAgent(Agent):
    """Applies the agreements to each enriched report and writes the disclosures."""

    name = "route"
    stateful = True

    def __init__(self, context: Context) -> None:
        self.topics = context.topics
        self.source = context.topics.enriched
        self.receipts_topic = context.topics.receipts
        self.extra_sources = (self.receipts_topic,)
        self.pending = context.topics.audit_pending
        self.agreements = context.view("agreements")
        self.agencies = context.view("agencies")
        self.subject_keys = context.view("subject_keys")
        self.unit_keys = context.view("unit_keys")
        self.views = (self.agreements, self.agencies, self.subject_keys, self.unit_keys)
        self.key_records = context.codec("SubjectKey")
        self.commitments = context.codec("SubjectCommitment")
        self._made: dict[str, bytes] = {}
        """Keys made here that the view does not hold yet, by lookup."""
        self.reports = context.codec("Report")
        self.disclosures = context.codec("Disclosure")
        self.notices = context.codec("ReportNotice")
        self.feedback = context.codec("Feedback")
        self.receipts = context.codec("Receipt")
        self.audits = context.codec("AuditRecord")
        self.dead_letters = DeadLetters(context)
        self.keys = context.keys()
        self.sealer = BatchSealer()  # envelope v2: one X25519 agreement per recipient a second
        self.clock = context.clock

    def process(self, record: Record, state: State | None) -> list[Output]:
        assert state is not None  # a stateful agent
        now = self.clock()
        if record.topic == self.receipts_topic:  # state scoped by the disclosure id
            return self._consultation(record, state, now)
        ledger = EventLedger(state.get(LEDGER))
        if self.notices.knows(record.value):
            outputs = self._answer(record, ledger, now)
        elif self.feedback.knows(record.value):
            outputs = self._feedback(record, ledger, now)
        else:
            outputs = self._disclose(record, ledger, now)
        state.set(LEDGER, ledger.dump())
        return outputs

    def _disclose(self, record: Record, ledger: EventLedger, now: datetime) -> list[Output]:
        raw = record.value or b""
        report = self.reports.decode(raw)
        outputs: list[Output] = []
        json_form = report_to_json(report)  # once per report, for every agreement's payload
        committed: dict[str, str] = {}

        def commit(subject_id: str) -> str:
            if subject_id not in committed:
                committed[subject_id] = self._commitment(subject_id, now, outputs)
            return committed[subject_id]

        if not ledger.seen():  # the first time: its collection (and combination) recorded
            outputs.append(self._audit(collection_record(report, raw, commit=commit, now=now)))
            combined = combination_record(report, commit=commit, now=now)
            if combined is not None:
                outputs.append(self._audit(combined))
        for agreement in ledger.to_disclose(report, route(self.agreements, report, now)):
            agency = self.agencies.get(agreement.recipient)
            if agency is None:
                error = RecipientUnavailableError(
                    f"agreement {agreement.id} names {agreement.recipient}, which has no "
                    "registered key; register it with `intelshare agencies register`"
                )
                outputs.append(self.dead_letters.output(record, error, now))
                log.error("recipient_unavailable", agreement=agreement.id)
                continue
            disclosure, pending = build_disclosure(
                report,
                agreement,
                recipient_public=_public_key(agency["public_key"]),
                recipient_key_id=agency["key_id"],
                signing_key=self.keys.signing_key,
                exchange_key_id=self.keys.key_id,
                pseudonym_secret=self.keys.pseudonym_secret,
                now=now,
                json_form=json_form,
                sealer=self.sealer,
                commit=commit,
            )
            ledger.disclosed(disclosure["disclosure_id"], agreement, now)
            key = disclosure["disclosure_id"].encode()
            topic = self.topics.feed(agreement.recipient)
            outputs.append(Output(topic, key, self.disclosures.encode(disclosure)))
            outputs.append(self._audit(pending))
            if self.progress is not None:
                counts = self.progress.disclosures
                counts[agreement.recipient] = counts.get(agreement.recipient, 0) + 1
        return outputs

    def _answer(self, record: Record, ledger: EventLedger, now: datetime) -> list[Output]:
        """A recall or correction: a notice to each agency that received the event, once."""
        try:
            notice = check_request(self.notices.decode(record.value or b""))
            due = ledger.answer(notice)
        except IntelshareError as exc:
            if not exc.dead_letter:
                raise
            log.warning("notice_refused", error=type(exc).__name__)
            return [self.dead_letters.output(record, exc, now)]
        outputs: list[Output] = []
        if ledger.correction(notice):
            outputs.append(self._audit(alteration_record(notice, now=now)))
        for sent, ident in due:
            agency = self.agencies.get(sent.recipient)
            if agency is None:  # its key was withdrawn: nothing can be encrypted to it
                error = RecipientUnavailableError(
                    f"{notice['kind']} notice {ident} for {sent.recipient}, which has no "
                    "registered key; register it with `intelshare agencies register`"
                )
                outputs.append(self.dead_letters.output(record, error, now))
                continue
            agreement = self.agreements.get(sent.agreement_id)  # its purpose, if still known
            message, pending = build_notice(
                notice, sent, ident,
                recipient_public=_public_key(agency["public_key"]),
                recipient_key_id=agency["key_id"],
                signing_key=self.keys.signing_key,
                exchange_key_id=self.keys.key_id,
                purpose=agreement.purpose if agreement is not None else "",
                legal_basis=agreement.legal_basis if agreement is not None else "",
                now=now,
                sealer=self.sealer,
            )  # fmt: skip
            topic = self.topics.feed(sent.recipient)
            outputs.append(Output(topic, ident.encode(), self.disclosures.encode(message)))
            outputs.append(self._audit(pending))
        log.info("notices_sent", kind=notice["kind"], count=len(due))
        return outputs

    def _feedback(self, record: Record, ledger: EventLedger, now: datetime) -> list[Output]:
        """An agency's feedback: to the report's unit only, once, or a dead letter."""
        try:
            given = check_feedback(self.feedback.decode(record.value or b""))
            agency = self.agencies.get(given["agency_id"])
            verify_feedback(given, agency.get("signing_key", b"") if agency else b"")
            unit_id = ledger.unit or ""
            unit = self.unit_keys.get(unit_id)
            sent, ident = feedback_due(ledger, given, unit_registered=unit is not None)
        except IntelshareError as exc:
            if not exc.dead_letter:
                raise
            log.warning("feedback_refused", error=type(exc).__name__)
            return [self.dead_letters.output(record, exc, now)]
        assert unit is not None  # feedback_due refuses a unit with no registered key
        message, pending = build_feedback(
            given, sent, ident,
            unit_id=unit_id,
            unit_public=_public_key(unit["public_key"]),
            unit_key_id=unit["key_id"],
            signing_key=self.keys.signing_key,
            exchange_key_id=self.keys.key_id,
            now=now,
            sealer=self.sealer,
        )  # fmt: skip
        topic = self.topics.unit_feedback(unit_id)
        log.info("feedback_sent", useful=given["useful"])
        return [
            Output(topic, ident.encode(), self.disclosures.encode(message)),
            self._audit(pending),
        ]

    def _consultation(self, record: Record, state: State, now: datetime) -> list[Output]:
        """An agency's receipt: its consultation recorded once, or a dead letter."""
        try:
            if not self.receipts.knows(record.value):
                raise ReceiptInvalidError(msg("not a consultation receipt"))
            receipt = self.receipts.decode(record.value or b"")
            if record.key != receipt["disclosure_id"].encode():
                raise ReceiptInvalidError(msg("disclosure_id: differs from the message key"))
            agency = self.agencies.get(receipt["agency_id"]) or {}
            raw = agency.get("signing_key") or b""
            if not any(verified_receipts([receipt], {receipt["agency_id"]: raw})):
                raise ReceiptInvalidError(
                    msg(
                        "the receipt does not verify under the receipt key its agency "
                        "registered; the agency signs with the key it registered "
                        "(`intelshare agencies register`)"
                    )
                )
        except IntelshareError as exc:
            if not exc.dead_letter:
                raise
            log.warning("receipt_refused", error=type(exc).__name__)
            return [self.dead_letters.output(record, exc, now)]
        pending = consultation_record(receipt, now=now)
        seen = list(state.get(CONSULTED) or [])
        if pending["disclosure_id"] in seen:  # the same receipt again: one record
            return []
        state.set(CONSULTED, [*seen, pending["disclosure_id"]])
        return [self._audit(pending)]

    def _audit(self, pending: dict[str, Any]) -> Output:
        """A pending audit record, for the sequencer to chain."""
        return Output(self.pending, CHAIN_KEY, self.audits.encode(pending))

    def _commitment(self, subject_id: str, now: datetime, outputs: list[Output]) -> str:
        """The subject's commitment under its data key; a key made here (or not yet in the
        view) is written with the outputs that use it (see the module's docstring)."""
        secret = self.keys.pseudonym_secret
        lookup = _lookup(secret)(subject_id)
        held = self.subject_keys.get(lookup)
        if held is not None:
            self._made.pop(lookup, None)
            return commitment(held["key"], subject_id)
        key = self._made.get(lookup) or new_subject_key()
        self._made[lookup] = key
        made = commitment(key, subject_id)
        record = {"key": key, "created_at": now}
        outputs.append(
            Output(self.topics.subject_keys, lookup.encode(), self.key_records.encode(record))
        )
        link = SubjectLinker.from_secret(secret)(subject_id)
        value = self.commitments.encode({"commitment": made, "created_at": now})
        outputs.append(Output(self.topics.subject_commitments, link.encode(), value))
        return made
