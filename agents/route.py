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
"""

from __future__ import annotations

import functools
from datetime import datetime

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from agents.base import Agent, Context, Output, Record, State
from agents.deadletter import DeadLetters
from streams.core.crypto import BatchSealer
from streams.core.disclosure import build_disclosure
from streams.core.notices import EventLedger, build_notice, check_request
from streams.core.policy import route
from streams.core.report import report_to_json
from streams.errors import IntelshareError
from streams.topics import CHAIN_KEY

__all__ = ["RouteAgent"]

log = structlog.get_logger(__name__)

LEDGER = "ledger"
"""The state key of an event's ledger (the state is already scoped to the event id)."""


@functools.lru_cache(maxsize=1024)
def _public_key(raw: bytes) -> X25519PublicKey:
    """An agency's key object, parsed once per key rather than once per disclosure."""
    return X25519PublicKey.from_public_bytes(raw)


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
        self.pending = context.topics.audit_pending
        self.agreements = context.view("agreements")
        self.agencies = context.view("agencies")
        self.views = (self.agreements, self.agencies)
        self.reports = context.codec("Report")
        self.disclosures = context.codec("Disclosure")
        self.notices = context.codec("ReportNotice")
        self.audits = context.codec("AuditRecord")
        self.dead_letters = DeadLetters(context)
        self.keys = context.keys()
        self.sealer = BatchSealer()  # envelope v2: one X25519 agreement per recipient a second
        self.clock = context.clock

    def process(self, record: Record, state: State | None) -> list[Output]:
        assert state is not None  # a stateful agent
        now = self.clock()
        ledger = EventLedger(state.get(LEDGER))
        if self.notices.knows(record.value):
            outputs = self._answer(record, ledger, now)
        else:
            outputs = self._disclose(record, ledger, now)
        state.set(LEDGER, ledger.dump())
        return outputs

    def _disclose(self, record: Record, ledger: EventLedger, now: datetime) -> list[Output]:
        report = self.reports.decode(record.value or b"")
        outputs: list[Output] = []
        json_form = report_to_json(report)  # once per report, for every agreement's payload
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
            )
            ledger.disclosed(disclosure["disclosure_id"], agreement, now)
            key = disclosure["disclosure_id"].encode()
            topic = self.topics.feed(agreement.recipient)
            outputs.append(Output(topic, key, self.disclosures.encode(disclosure)))
            outputs.append(Output(self.pending, CHAIN_KEY, self.audits.encode(pending)))
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
            outputs.append(Output(self.pending, CHAIN_KEY, self.audits.encode(pending)))
        log.info("notices_sent", kind=notice["kind"], count=len(due))
        return outputs
