"""route: intel.enriched -> intel.feed.<agency> + intel.audit.pending, in one transaction.

For each report, every agreement that covers it (``streams.policy``) yields one disclosure:
the minimised payload encrypted to the recipient and signed by the exchange
(``streams.disclosure``), and its pending audit entry. Both are written in the transaction that
commits the input offset, so a read_committed consumer never sees one without the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from agents.deadletter import DeadLetters
from agents.keys import ExchangeKeys
from agents.runner import Output
from agents.views import TopicView
from streams.codec import Codec
from streams.disclosure import build_disclosure
from streams.errors import IntelshareError
from streams.policy import Agreement, route
from streams.report import report_to_json
from streams.settings import Settings
from streams.topics import feed_topic

__all__ = ["RouteStep"]

log = structlog.get_logger(__name__)


class RecipientUnavailableError(IntelshareError):
    """An agreement names an agency with no registered public key."""

    dead_letter = True


class RouteStep:
    """Applies the agreements to each enriched report and writes the disclosures."""

    name: str = "route"
    state_topic: str | None = None

    def __init__(
        self,
        settings: Settings,
        *,
        reports: Codec,
        disclosures: Codec,
        audits: Codec,
        dead: Codec,
        agreements: TopicView[Agreement],
        agencies: TopicView[dict[str, Any]],
        keys: ExchangeKeys,
        clock: Callable[[], datetime],
    ) -> None:
        self.prefix = settings.topic_prefix
        self.source = self.prefix + "intel.enriched"
        self.pending = self.prefix + "intel.audit.pending"
        self.views: Sequence[TopicView[Any]] = (agreements, agencies)
        self.agreements = agreements
        self.agencies = agencies
        self.reports = reports
        self.disclosures = disclosures
        self.audits = audits
        self.dead_letters = DeadLetters(settings.topic_prefix + "intel.deadletter", dead)
        self.keys = keys
        self.clock = clock
        self.disclosed = 0

    def flush(self) -> list[Output]:
        return []

    def restore(self, key: bytes, value: bytes | None) -> None:
        raise NotImplementedError("route keeps no state")

    def process(self, record: ConsumerRecord[bytes, bytes]) -> list[Output]:
        now = self.clock()
        report = self.reports.decode(record.value)
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
                recipient_public=X25519PublicKey.from_public_bytes(agency["public_key"]),
                recipient_key_id=agency["key_id"],
                signing_key=self.keys.signing_key,
                exchange_key_id=self.keys.key_id,
                pseudonym_secret=self.keys.pseudonym_secret,
                now=now,
                json_form=json_form,
            )
            key = disclosure["disclosure_id"].encode()
            topic = self.prefix + feed_topic(agreement.recipient)
            outputs.append(Output(topic, key, self.disclosures.encode(disclosure)))
            outputs.append(Output(self.pending, key, self.audits.encode(pending)))
        self.disclosed += len(outputs) // 2
        return outputs
