"""enrich: intel.validated -> intel.enriched, with reference data and dedup marks.

Deduplication state lives in the compacted, internal ``intelshare.enrich-changelog`` topic
(JSON values), written in the same transaction as the output, so a restart forgets nothing and
repeats nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord

from agents.deadletter import DeadLetters
from agents.runner import Output
from agents.views import TopicView
from streams.codec import Codec
from streams.dedup import DedupState
from streams.enrich import enrich, facility_of
from streams.errors import IntelshareError
from streams.settings import Settings

__all__ = ["EnrichStep"]

log = structlog.get_logger(__name__)


class EnrichStep:
    """Adds facility and subject reference data; drops replays, marks duplicates, links reports."""

    name: str = "enrich"

    def __init__(
        self,
        settings: Settings,
        *,
        reports: Codec,
        dead: Codec,
        facilities: TopicView[dict[str, Any]],
        subjects: TopicView[dict[str, Any]],
        state: DedupState,
        clock: Callable[[], datetime],
    ) -> None:
        prefix = settings.topic_prefix
        self.source = prefix + "intel.validated"
        self.enriched = prefix + "intel.enriched"
        self.changelog = prefix + "intelshare.enrich-changelog"
        self.state_topic: str | None = self.changelog
        self.views: Sequence[TopicView[Any]] = (facilities, subjects)
        self.facilities = facilities
        self.subjects = subjects
        self.reports = reports
        self.dead_letters = DeadLetters(settings.topic_prefix + "intel.deadletter", dead)
        self.state = state
        self.clock = clock

    def flush(self) -> list[Output]:
        return []

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
