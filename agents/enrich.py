"""enrich: intel.validated -> intel.enriched, with reference data and dedup marks.

Deduplication state lives in the compacted, internal ``intelshare.enrich-changelog`` topic
(JSON values), written in the same transaction as the output, so a restart forgets nothing and
repeats nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord

from agents.base import Agent, Context, Output
from agents.deadletter import DeadLetters
from streams.core.dedup import DedupState
from streams.core.enrich import enrich, facility_of
from streams.errors import IntelshareError

__all__ = ["EnrichAgent"]

log = structlog.get_logger(__name__)


class EnrichAgent(Agent):
    """Adds facility and subject reference data; drops replays, marks duplicates, links reports."""

    name = "enrich"

    def __init__(self, context: Context) -> None:
        settings = context.settings
        self.source = context.topics.validated
        self.enriched = context.topics.enriched
        self.changelog = context.topics.changelog(self.name)
        self.state_topic = self.changelog
        self.views = (context.facilities, context.subjects)
        self.facilities = context.facilities
        self.subjects = context.subjects
        self.reports = context.codec("Report")
        self.dead_letters = DeadLetters(context)
        self.state = DedupState(window=timedelta(days=settings.dedup_window_days))
        self.clock = context.clock

    def restore(self, key: bytes, value: bytes | None) -> None:
        self.state.restore(key.decode(), json.loads(value) if value is not None else None)

    def process(self, record: ConsumerRecord[bytes, bytes]) -> list[Output]:
        now = self.clock()
        report = self.reports.decode(record.value)
        try:
            facility = facility_of(report, self.facilities.get)
        except IntelshareError as exc:
            return [self.dead_letters.output(record, exc, now)]
        verdict, changes = self.state.observe(report, now)
        outputs = [Output(self.changelog, key.encode(), _json(value)) for key, value in changes]
        if verdict.replay:
            log.info("replay_dropped", event_id=report["event_id"])
            return outputs
        enriched = enrich(
            report,
            facility=facility,
            subjects=self.subjects.get,
            verdict=verdict,
            now=now,
        )
        outputs.append(Output(self.enriched, record.key, self.reports.encode(enriched)))
        return outputs


def _json(value: dict[str, Any] | None) -> bytes | None:
    return None if value is None else json.dumps(value, separators=(",", ":")).encode()
