"""The one way an agent turns a rejected input record into a dead letter."""

from __future__ import annotations

from datetime import datetime

import structlog

from agents.base import Context, Output, Record
from streams.core.intake import Origin, attempt_of, dead_letter_record
from streams.errors import IntelshareError

__all__ = ["DeadLetters"]

log = structlog.get_logger(__name__)


class DeadLetters:
    """Builds ``intel.deadletter`` outputs: original bytes, the error, and where it came from."""

    def __init__(self, context: Context) -> None:
        self.topic = context.topics.deadletter
        self.codec = context.codec("DeadLetter")
        self.count = 0
        """Dead letters built so far."""

    def output(self, record: Record, error: IntelshareError, now: datetime) -> Output:
        """The dead letter of ``record``, rejected for ``error`` at ``now``."""
        origin = Origin(record.topic, record.partition, record.offset, record.key)
        attempts = attempt_of((k, v or b"") for k, v in record.headers)
        letter = dead_letter_record(record.value, origin, error, now, attempts=attempts)
        self.count += 1
        log.info(
            "dead_letter", source=record.topic, offset=record.offset, error=type(error).__name__
        )
        return Output(self.topic, record.key, self.codec.encode(letter))
