"""The one way an agent turns a rejected input record into a dead letter."""

from __future__ import annotations

from datetime import datetime

import structlog
from aiokafka.structs import ConsumerRecord

from agents.runner import Output
from streams.codec import Codec
from streams.deadletters import attempt_of
from streams.errors import IntelshareError
from streams.intake import Origin, dead_letter_record

__all__ = ["DeadLetters"]

log = structlog.get_logger(__name__)


class DeadLetters:
    """Builds ``intel.deadletter`` outputs: original bytes, the error, and where it came from."""

    def __init__(self, topic: str, codec: Codec) -> None:
        self.topic = topic
        self.codec = codec

    def output(
        self, record: ConsumerRecord[bytes, bytes], error: IntelshareError, now: datetime
    ) -> Output:
        """The dead letter of ``record``, rejected for ``error`` at ``now``."""
        origin = Origin(record.topic, record.partition, record.offset, record.key)
        attempts = attempt_of(record.headers)
        letter = dead_letter_record(record.value, origin, error, now, attempts=attempts)
        log.info(
            "dead_letter", source=record.topic, offset=record.offset, error=type(error).__name__
        )
        return Output(self.topic, record.key, self.codec.encode(letter))
