"""intake: intel.submissions -> intel.validated, or intel.deadletter with the reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord

from agents.runner import Output
from agents.views import TopicView
from streams.codec import Codec
from streams.deadletters import attempt_of
from streams.errors import IntelshareError
from streams.intake import Origin, check_submission, dead_letter_record
from streams.settings import Settings

__all__ = ["IntakeStep"]

log = structlog.get_logger(__name__)


class IntakeStep:
    """Decodes and validates each submission; anything else becomes a dead letter."""

    name: str = "intake"
    state_topic: str | None = None
    views: Sequence[TopicView[Any]] = ()

    def __init__(
        self, settings: Settings, reports: Codec, dead: Codec, clock: Callable[[], datetime]
    ) -> None:
        prefix = settings.topic_prefix
        self.source = prefix + "intel.submissions"
        self.validated = prefix + "intel.validated"
        self.deadletter = prefix + "intel.deadletter"
        self.reports = reports
        self.dead = dead
        self.clock = clock

    def flush(self) -> list[Output]:
        return []

    def restore(self, key: bytes, value: bytes | None) -> None:
        raise NotImplementedError("intake keeps no state")

    def process(self, record: ConsumerRecord[bytes, bytes]) -> list[Output]:
        now = self.clock()
        try:
            report = check_submission(record.value, record.key, self.reports, now)
        except IntelshareError as exc:
            if not exc.dead_letter:
                raise
            origin = Origin(record.topic, record.partition, record.offset, record.key)
            log.info("dead_letter", source_offset=record.offset, error=type(exc).__name__)
            letter = dead_letter_record(
                record.value, origin, exc, now, attempts=attempt_of(record.headers)
            )
            return [Output(self.deadletter, record.key, self.dead.encode(letter))]
        key = report["event_id"].encode()
        return [Output(self.validated, key, self.reports.encode(report))]
