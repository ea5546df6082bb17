"""The one way an agent turns a rejected input record into a dead letter.

A dead letter holds the rejected bytes whole, and they are often a report in clear, with its
subjects and narrative. They are kept no longer than their replay window
(``Settings.retention_deadletter_days``, 14 days by default: ``intel.deadletter``'s retention,
see :func:`streams.topics.configured`) rather than encrypted at rest to the exchange, because:

- the one purpose of a dead letter is that an operator reads its reason and replays it once
  the cause is fixed (``intelshare deadletter list/replay``); after the window that purpose is
  gone, and deleting the bytes ends the risk instead of moving it into a key;
- encrypting them would put the exchange's private key on every operator's machine that lists
  or replays them, and the same bytes sit in clear on ``intel.submissions`` anyway, whose
  retention (``retention_intermediate_days``) bounds them the same way;
- an erasure order (``intelshare erase``) cannot reach bytes that failed to decode, whatever
  key they were under; a short, stated lifetime is the honest bound for those.
"""

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
