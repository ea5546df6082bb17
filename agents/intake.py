"""intake: intel.submissions -> intel.validated, or intel.deadletter with the reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from agents.deadletter import DeadLetters
from agents.runner import Output
from agents.views import TopicView
from streams.codec import Codec
from streams.errors import IntelshareError
from streams.intake import check_submission
from streams.settings import Settings

__all__ = ["IntakeStep"]


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
        self.reports = reports
        self.dead_letters = DeadLetters(settings.topic_prefix + "intel.deadletter", dead)
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
            return [self.dead_letters.output(record, exc, now)]
        key = report["event_id"].encode()
        return [Output(self.validated, key, self.reports.encode(report))]
