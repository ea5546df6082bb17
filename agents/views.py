"""Views of compacted topics (agreements, reference data) as in-memory dicts, kept current.

A view reads its topic from the beginning, is *ready* once it has caught up with the end
offsets it saw at start, and then follows new records, so a changed or revoked agreement
takes effect without a restart. Records that do not decode are logged and left out: no
agreement, no disclosure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from streams.errors import IntelshareError, TopicMissingError
from streams.settings import Settings

__all__ = ["TopicView", "partitions_of", "read_to_end"]

log = structlog.get_logger(__name__)
T = TypeVar("T")


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``; TopicMissingError when it does not exist.

    aiokafka's ``partitions_for_topic`` only knows subscribed topics, so this reads the full
    cluster metadata (through the consumer's client, as ``consumer.topics()`` does).
    """
    cluster = await consumer._client.fetch_all_metadata()
    numbers = cluster.partitions_for_topic(topic)
    if not numbers:
        raise TopicMissingError(f"topic {topic} does not exist; run `intelshare topics create`")
    return [TopicPartition(topic, p) for p in sorted(numbers)]


async def _assigned_consumer(settings: Settings, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_security(),
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(await partitions_of(consumer, topic))
    except BaseException:
        await consumer.stop()
        raise
    await consumer.seek_to_beginning()
    return consumer


async def read_to_end(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every committed record of ``topic`` up to its current end."""
    consumer = await _assigned_consumer(settings, topic)
    try:
        ends = await consumer.end_offsets(list(consumer.assignment()))
        records: list[ConsumerRecord[bytes, bytes]] = []
        while any(await _behind(consumer, ends)):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> list[bool]:
    return [await consumer.position(tp) < end for tp, end in ends.items()]


class TopicView(Generic[T]):
    """Latest decoded value per key of a compacted topic."""

    def __init__(self, settings: Settings, topic: str, decode: Callable[[bytes], T]) -> None:
        self.settings = settings
        self.topic = topic
        self._decode = decode
        self._values: dict[str, T] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def get(self, key: str) -> T | None:
        """The current value for ``key``, or None."""
        return self._values.get(key)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._values.values()))

    def __len__(self) -> int:
        return len(self._values)

    async def ready(self) -> None:
        """Start following if not yet, and wait until caught up."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name=f"view:{self.topic}")
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done and not self._ready.is_set():
            waiter.cancel()
            self._task.result()  # raises what stopped the view

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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

    async def _follow(self) -> None:
        consumer = await _assigned_consumer(self.settings, self.topic)
        try:
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while True:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    for record in batch:
                        self.apply(record.key, record.value)
                if not self._ready.is_set() and not any(await _behind(consumer, ends)):
                    self._ready.set()
                    log.info("view_ready", topic=self.topic, keys=len(self._values))
        finally:
            await consumer.stop()
