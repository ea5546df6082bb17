"""Reading a whole topic fast, for the big reads of oversight (issue 15): every committed value
of ``intel.audit``, its checkpoints and the receipts, up to the ends they had when asked.

kafka-python parses record batches in Python (about 8 s per 150,000 messages of the audit
log); confluent-kafka (librdkafka, already the agents' client) parses them in C and hands them
over ``consume(num_messages=...)`` in batches. The consumer is assigned its partitions by hand,
joins no group and commits nothing; it reads with ``read_committed``, so what it returns is what
:func:`streams.kafka.clients.read_topic` returns, and its errors read the same.

When to stop is :class:`Ends`, pure: a partition is done at its end offset (taken before
reading), seen as a message at or past it, as librdkafka's end-of-partition event, or as the
consumer's position, which under ``read_committed`` may pass the transaction markers after the
last record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams.errors import (
    IntelshareError,
)
from streams.i18n import msg
from streams.kafka.clients import (
    broker_unavailable,
    librdkafka_config,
    not_authorised,
    refused,
    unreadable_topic,
)
from streams.kafka.tls import diagnose
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["BATCH", "Ends", "read_values"]

BATCH = 10_000
"""Messages taken from librdkafka per ``consume`` call."""
_STALLED = 4
"""Request timeouts with neither a message nor an end-of-partition event: the read has stalled
(the broker went away while it read)."""
_REFUSED_TOPIC = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.UNKNOWN_TOPIC_OR_PART)


class Ends:
    """Which partitions are read up to the end offset each had when the read began."""

    def __init__(self, ends: Mapping[int, int]) -> None:
        """``ends`` maps a partition to its end offset (the next offset to be written)."""
        self._open = {p: end for p, end in ends.items() if end > 0}

    @property
    def done(self) -> bool:
        """True when every partition is read to its end."""
        return not self._open

    def wanted(self, partition: int, offset: int) -> bool:
        """Whether the message at ``offset`` is before its partition's end (else it was
        written after the read began, and the partition is done)."""
        end = self._open.get(partition)
        if end is None:
            return False
        if offset + 1 >= end:
            del self._open[partition]
        return offset < end

    def reached(self, partition: int, position: int) -> None:
        """The partition's position (end-of-partition event or the consumer's position): the
        partition is done when it is at or past the end."""
        end = self._open.get(partition)
        if end is not None and position >= end:
            del self._open[partition]

    @property
    def pending(self) -> list[int]:
        """The partitions not read to their end yet."""
        return sorted(self._open)


def read_values(settings: Settings, topic: str) -> list[bytes | None]:
    """Every committed value of ``topic`` up to its current end, in offset order within each
    partition; the errors of :func:`streams.kafka.clients.read_topic`."""
    doing = msg("reading {topic}", topic=topic)
    errors: list[KafkaError] = []
    config = librdkafka_config(settings) | {
        # required by the client, never joined: the partitions are assigned by hand
        "group.id": Topics(settings.topic_prefix).oversight_group,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "log_level": 0,
        "error_cb": errors.append,
    }
    consumer = Consumer(config)
    try:
        partitions = _partitions(consumer, settings, topic, doing, errors)
        ends = Ends(
            {
                p: consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=settings.request_timeout
                )[1]
                for p in partitions
            }
        )
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        return _consume(consumer, settings, topic, ends, doing)
    except KafkaException as exc:
        raise _translated(settings, doing, exc, errors) from exc
    finally:
        consumer.close()


def _partitions(
    consumer: Consumer, settings: Settings, topic: str, doing: str, errors: list[KafkaError]
) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=settings.request_timeout)
    found = metadata.topics.get(topic)
    if found is not None and found.error is None and found.partitions:
        return sorted(found.partitions)
    raise unreadable_topic(settings, topic)


def _consume(
    consumer: Consumer, settings: Settings, topic: str, ends: Ends, doing: str
) -> list[bytes | None]:
    values: list[bytes | None] = []
    idle_since = time.monotonic()
    while not ends.done:
        messages = consumer.consume(BATCH, timeout=0.5)
        for message in messages:
            error = message.error()
            if error is None:
                if ends.wanted(message.partition(), message.offset()):
                    values.append(message.value())
            elif error.code() == KafkaError._PARTITION_EOF:
                ends.reached(message.partition(), message.offset())
            elif error.code() in _REFUSED_TOPIC or error.fatal():
                raise _translated(settings, doing, KafkaException(error), [])
        if messages:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > _STALLED * settings.request_timeout:
            stalled = f"partitions {ends.pending} of {topic} stalled"
            raise broker_unavailable(settings, doing, stalled)
        for tp in consumer.position([TopicPartition(topic, p) for p in ends.pending]):
            if tp.offset >= 0:
                ends.reached(tp.partition, tp.offset)
    return values


def _translated(
    settings: Settings, doing: str, exc: KafkaException, errors: list[KafkaError]
) -> IntelshareError:
    """The intelshare error for a librdkafka error met while ``doing`` something."""
    error: Any = exc.args[0] if exc.args else None
    code = error.code() if isinstance(error, KafkaError) else None
    if code in _REFUSED_TOPIC or code == KafkaError.GROUP_AUTHORIZATION_FAILED:
        return not_authorised(settings, doing, exc)
    if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        return refused(settings, doing)
    if code in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN):
        problem = diagnose(settings)
        if problem is not None:
            return problem
        return broker_unavailable(settings, doing, exc)
    return IntelshareError(msg("Kafka refused while {doing}: {exc}", doing=doing, exc=exc))
