"""route: intel.enriched -> intel.feed.<agency> + intel.audit.pending, in one transaction.

For each report, every agreement that covers it (``streams.core.policy``) yields one disclosure:
the minimised payload encrypted to the recipient and signed by the exchange
(``streams.core.disclosure``), and its pending audit entry. Both are written in the transaction that
commits the input offset, so a read_committed consumer never sees one without the other.
"""

from __future__ import annotations

import functools

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from agents.base import Agent, Context, Output, Record, State
from agents.deadletter import DeadLetters
from streams.core.crypto import BatchSealer
from streams.core.disclosure import build_disclosure
from streams.core.policy import route
from streams.core.report import report_to_json
from streams.errors import IntelshareError
from streams.topics import CHAIN_KEY

__all__ = ["RouteAgent"]

log = structlog.get_logger(__name__)


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

    def __init__(self, context: Context) -> None:
        self.topics = context.topics
        self.source = context.topics.enriched
        self.pending = context.topics.audit_pending
        self.agreements = context.view("agreements")
        self.agencies = context.view("agencies")
        self.views = (self.agreements, self.agencies)
        self.reports = context.codec("Report")
        self.disclosures = context.codec("Disclosure")
        self.audits = context.codec("AuditRecord")
        self.dead_letters = DeadLetters(context)
        self.keys = context.keys()
        self.sealer = BatchSealer()  # envelope v2: one X25519 agreement per recipient a second
        self.clock = context.clock

    def process(self, record: Record, state: State | None) -> list[Output]:
        now = self.clock()
        report = self.reports.decode(record.value or b"")
        outputs: list[Output] = []
        json_form = report_to_json(report)  # once per report, for every agreement's payload
        for agreement in route(self.agreements, report, now):
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
            key = disclosure["disclosure_id"].encode()
            topic = self.topics.feed(agreement.recipient)
            outputs.append(Output(topic, key, self.disclosures.encode(disclosure)))
            outputs.append(Output(self.pending, CHAIN_KEY, self.audits.encode(pending)))
            if self.progress is not None:
                counts = self.progress.disclosures
                counts[agreement.recipient] = counts.get(agreement.recipient, 0) + 1
        return outputs
