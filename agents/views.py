"""Views of compacted topics (agreements, reference data) as in-memory dicts, kept current.

A view reads its topic from the beginning with read_committed, is *ready* once it has caught
up with the end offsets it saw at start, and then follows new records in a thread of its own,
so a changed or revoked agreement takes effect without a restart. Records that do not decode
are logged and left out: no agreement, no disclosure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from streams.errors import BrokerUnavailableError, IntelshareError, TopicMissingError
from streams.kafka.clients import librdkafka_config
from streams.settings import Settings
from streams.topics import VIEW_GROUP

__all__ = ["TopicView"]

log = structlog.get_logger(__name__)
T = TypeVar("T")


class TopicView(Generic[T]):
    """Latest decoded value per key of a compacted topic."""

    def __init__(self, settings: Settings, topic: str, decode: Callable[[bytes], T]) -> None:
        self.settings = settings
        self.topic = topic
        self._decode = decode
        self._values: dict[str, T] = {}
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    def get(self, key: str) -> T | None:
        """The current value for ``key``, or None."""
        return self._values.get(key)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._values.values()))

    def __len__(self) -> int:
        return len(self._values)

    def start(self) -> None:
        """Start following (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name=f"view:{self.topic}")
            self._thread.daemon = True
            self._thread.start()

    def ready(self, timeout: float) -> None:
        """Start if not yet, and wait until caught up; raise what stopped the view."""
        self.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self._failure is not None:
                raise self._failure
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(
                    f"view of {self.topic} did not catch up in {timeout:.0f} s"
                )

    @property
    def is_ready(self) -> bool:
        """Whether the view has caught up with its topic."""
        return self._ready.is_set()

    def stop(self) -> None:
        """Stop following."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record: a tombstone deletes, a bad value is logged and left out."""
        name = (key or b"").decode("utf-8", "replace")
        if value is None:
            self._values.pop(name, None)
            return
        try:
            self._values[name] = self._decode(value)
        except IntelshareError as exc:
            log.warning("view_record_refused", topic=self.topic, key=name, error=type(exc).__name__)

    def _follow(self) -> None:
        config = librdkafka_config(self.settings) | {
            "group.id": VIEW_GROUP,  # never joined: partitions are assigned by hand
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
        consumer = Consumer(config)
        try:
            partitions = self._partitions(consumer)
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
            ends = {
                p: consumer.get_watermark_offsets(TopicPartition(self.topic, p))[1]
                for p in partitions
            }
            positions = dict.fromkeys(partitions, 0)
            while not self._stopping.is_set():
                for message in consumer.consume(500, timeout=0.2):
                    if message.error():
                        continue
                    self.apply(message.key(), message.value())
                    positions[message.partition()] = (message.offset() or 0) + 1
                if not self._ready.is_set() and self._caught_up(consumer, ends, positions):
                    self._ready.set()
                    log.info("view_ready", topic=self.topic, keys=len(self._values))
        except (KafkaException, IntelshareError) as exc:
            self._failure = (
                exc
                if isinstance(exc, IntelshareError)
                else BrokerUnavailableError(f"cannot read {self.topic}: {exc}")
            )
        finally:
            consumer.close()

    def _partitions(self, consumer: Consumer) -> list[int]:
        metadata = consumer.list_topics(self.topic, timeout=self.settings.request_timeout)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise TopicMissingError(
                f"topic {self.topic} does not exist; run `intelshare topics create`"
            )
        return sorted(topic.partitions)

    def _caught_up(
        self, consumer: Consumer, ends: dict[int, int], positions: dict[int, int]
    ) -> bool:
        """Every partition read up to the end seen at start (read_committed positions may sit
        past transaction markers, so ask the consumer, not only the records seen)."""
        assigned = consumer.position([TopicPartition(self.topic, p) for p in ends])
        at = {tp.partition: max(tp.offset, positions[tp.partition]) for tp in assigned}
        return all(end == 0 or at[p] >= end for p, end in ends.items())
