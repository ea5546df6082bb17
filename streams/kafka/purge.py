"""The Kafka side of :mod:`streams.core.purge`: read an agent group's committed offsets, check
with a read_committed reader that nothing below a drained end is left unprocessed, and delete
the processed records with DeleteRecords (kafka-python's ``KafkaAdminClient.delete_records``).

In secure mode the user running ``erase`` (the exchange's operator) needs DESCRIBE on the
agents' groups and DELETE on the three topics, as an operator (super user) has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NotCoordinatorError,
)

from streams.core.purge import (
    ROLL_KEY,
    ROLL_SEGMENT_MS,
    ROLL_SETTLE,
    SEGMENT_MS,
    SEQUENCER,
    STAGES,
    dead_letter_cut,
    drain,
    is_roll_marker,
    purge_offsets,
    resume_from,
    roll_offsets,
    segment_restore,
)
from streams.i18n import msg
from streams.kafka.clients import admin_client, consumer, producer, translate_errors
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["Drained", "drain_pipeline", "purge", "purge_dead_letters", "roll_purged"]

Bounds = dict[int, int]
"""Offsets by partition."""
Drained = dict[str, tuple[Bounds, Bounds]]
"""Per prefixed topic, its log start offsets and the ends it was drained to, by partition."""


def drain_pipeline(
    settings: Settings,
    wait: float,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _: None,
) -> Drained:
    """Drain :data:`~streams.core.purge.STAGES`, then the sequencer's input, in order (each
    within ``wait`` seconds, or PipelineBehindError): the ends each purged topic was drained
    to, for :func:`purge`."""
    topics = Topics(settings.topic_prefix)
    drained: Drained = {}
    for stage in (*STAGES, SEQUENCER):
        topic = settings.topic_prefix + stage.topic
        group = topics.agent_group(stage.agent)
        starts, ends = _bounds(settings, topic)

        def left(
            topic: str = topic, group: str = group, starts: Bounds = starts, ends: Bounds = ends
        ) -> int:
            return _unprocessed(settings, topic, group, starts, ends)

        drain(stage, left, wait=wait, sleep=sleep, say=say)
        if stage in STAGES:
            drained[topic] = (starts, ends)
    return drained


def purge(settings: Settings, drained: Drained) -> int:
    """Delete the records below the drained ends; the number of partitions purged."""
    wanted = {
        TopicPartition(topic, p): offset
        for topic, (starts, ends) in drained.items()
        for p, offset in purge_offsets(starts, ends).items()
    }
    if not wanted:
        return 0
    with admin_client(settings) as admin, translate_errors(settings, msg("erasing a subject")):
        admin.delete_records(wanted, timeout_ms=int(settings.request_timeout * 1000))
    return len(wanted)


def roll_purged(
    settings: Settings,
    wait: float | None = None,
    settle: float = ROLL_SETTLE,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _: None,
    dead_letters: bool = False,
) -> dict[str, dict[int, int]]:
    """Roll every partition of the purged topics (:data:`~streams.core.purge.STAGES`) and delete
    up to the roll markers, so the purged records sit in closed segments wholly below the log
    start, which the broker deletes at its next retention check (step 4 of
    :mod:`streams.core.purge`). ``settle``: seconds between the ``segment.ms`` change and the
    markers; ``wait``: the drain's (``Settings.erase_wait`` by default, as erase's);
    ``dead_letters``: roll ``intel.deadletter`` too (erase removed a dead letter), whose other
    dead letters below the marker are copied forward before the cut. Per prefixed topic, each
    partition's marker offset. ``segment.ms`` is put back even when appending fails."""
    purged = [settings.topic_prefix + stage.topic for stage in STAGES]
    letters = Topics(settings.topic_prefix).deadletter
    names = [*purged, letters] if dead_letters else purged
    with admin_client(settings) as admin, translate_errors(settings, msg("erasing a subject")):
        before = _segment_overrides(admin, names)
        _alter(admin, {name: ("SET", str(ROLL_SEGMENT_MS)) for name in names})
    try:
        sleep(settle)
        markers = _append_markers(settings, names)
    finally:
        with admin_client(settings) as admin, translate_errors(settings, msg("erasing a subject")):
            _alter(admin, {name: segment_restore(before[name]) for name in names})
    drain_pipeline(settings, settings.erase_wait if wait is None else wait, sleep=sleep, say=say)
    wanted: dict[TopicPartition, int] = {}
    for name in purged:
        starts, _ = _bounds(settings, name)
        for p, offset in roll_offsets(starts, markers[name]).items():
            wanted[TopicPartition(name, p)] = offset
    if wanted:
        with admin_client(settings) as admin, translate_errors(settings, msg("erasing a subject")):
            admin.delete_records(wanted, timeout_ms=int(settings.request_timeout * 1000))
    if dead_letters:
        _roll_dead_letters(settings, letters, markers[letters])
    return markers


def _segment_overrides(admin: Any, names: list[str]) -> dict[str, str | None]:
    """Each topic's own ``segment.ms`` (a topic override), or None when it takes the broker's."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, n, [SEGMENT_MS]) for n in names]
    described = admin.describe_configs(resources, config_filter="all")["topic"]
    found: dict[str, str | None] = {}
    for name in names:
        entry = described.get(name, {}).get(SEGMENT_MS) or {}
        own = entry.get("config_source") == "DYNAMIC_TOPIC_CONFIG"
        found[name] = str(entry["value"]) if own else None
    return found


def _alter(admin: Any, changes: dict[str, tuple[str, str | None]]) -> None:
    """Change ``segment.ms`` of each topic, incrementally (the topic's other configs stay)."""
    admin.alter_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, name, {SEGMENT_MS: change})
            for name, change in changes.items()
        ],
        incremental=True,
    )


def _append_markers(settings: Settings, names: list[str]) -> dict[str, dict[int, int]]:
    """Append a roll marker to every partition of each topic: the offsets they got."""
    client = consumer(settings, group_id=None)
    try:
        with translate_errors(settings, msg("erasing a subject")):
            counts = {name: sorted(client.partitions_for_topic(name) or ()) for name in names}
    finally:
        client.close()
    sender = producer(settings)
    try:
        with translate_errors(settings, msg("erasing a subject")):
            futures = [
                (name, p, sender.send(name, key=ROLL_KEY, value=None, partition=p))
                for name, partitions in counts.items()
                for p in partitions
            ]
            sender.flush(timeout=settings.request_timeout * 4)
            markers: dict[str, dict[int, int]] = {name: {} for name in names}
            for name, p, future in futures:
                markers[name][p] = future.get(timeout=settings.request_timeout).offset
    finally:
        sender.close(timeout=settings.request_timeout)
    return markers


def purge_dead_letters(settings: Settings, subject_id: str) -> int:
    """Remove the dead letters that name ``subject_id``, keeping the others by copying them
    forward first (:func:`streams.core.purge.dead_letter_cut`); how many were removed."""
    topic = Topics(settings.topic_prefix).deadletter
    held = _read_all(settings, topic)
    removed, cuts = 0, {}
    copies: list[tuple[int, Any]] = []
    for partition, records in sorted(held.items()):
        by_offset = {r.offset: r for r in records}
        cut, keep = dead_letter_cut([(r.offset, _raw(r)) for r in records], subject_id)
        if cut:
            cuts[TopicPartition(topic, partition)] = cut
            copies.extend(
                (partition, by_offset[o])
                for o in keep
                if not is_roll_marker(by_offset[o].key, by_offset[o].value)
            )
            removed += sum(1 for r in records if r.offset < cut) - len(keep)
    if not cuts:
        return 0
    _copy_and_cut(settings, topic, copies, cuts)
    return removed


def _roll_dead_letters(settings: Settings, topic: str, markers: dict[int, int]) -> None:
    """After a roll of ``intel.deadletter``: copy every dead letter below its partition's
    marker (markers excepted) to the end of the partition, then delete up to the marker, so
    the closed segments (which held the removed dead letters) are wholly below the log start
    and every other dead letter is still there for replay."""
    held = _read_all(settings, topic)
    starts, _ = _bounds(settings, topic)
    cuts = {TopicPartition(topic, p): m for p, m in roll_offsets(starts, markers).items()}
    copies = [
        (p, r)
        for p, records in sorted(held.items())
        if TopicPartition(topic, p) in cuts
        for r in records
        if r.offset < markers[p] and not is_roll_marker(r.key, r.value)
    ]
    if cuts:
        _copy_and_cut(settings, topic, copies, cuts)


def _read_all(settings: Settings, topic: str) -> dict[int, list[Any]]:
    """Every committed record of ``topic`` up to its end offsets, by partition."""
    held: dict[int, list[Any]] = {}
    client = consumer(settings, group_id=None)
    try:
        with translate_errors(settings, msg("reading {topic}", topic=topic)):
            partitions = [TopicPartition(topic, p) for p in client.partitions_for_topic(topic)]
            client.assign(partitions)
            client.seek_to_beginning()
            ends = client.end_offsets(partitions)
            while any(client.position(tp) < end for tp, end in ends.items()):
                for tp, batch in client.poll(timeout_ms=500).items():
                    held.setdefault(tp.partition, []).extend(batch)
    finally:
        client.close()
    return held


def _copy_and_cut(
    settings: Settings,
    topic: str,
    copies: list[tuple[int, Any]],
    cuts: dict[TopicPartition, int],
) -> None:
    """Append ``copies`` (partition, record: same key, value, headers and timestamp) to
    ``topic``, wait until the broker has them all, then delete each partition below its cut."""
    sender = producer(settings)
    try:
        with translate_errors(settings, msg("erasing a subject")):
            futures = [
                sender.send(
                    topic,
                    key=r.key,
                    value=r.value,
                    headers=list(r.headers or ()),
                    partition=partition,
                    timestamp_ms=r.timestamp,
                )
                for partition, r in copies
            ]
            sender.flush(timeout=settings.request_timeout * 4)
            for future in futures:
                future.get(timeout=settings.request_timeout)
    finally:
        sender.close(timeout=settings.request_timeout)
    with admin_client(settings) as admin, translate_errors(settings, msg("erasing a subject")):
        admin.delete_records(cuts, timeout_ms=int(settings.request_timeout * 1000))


def _raw(record: Any) -> bytes:
    """Every byte of a record the broker keeps: key, value, header names and values."""
    parts = [record.key or b"", record.value or b""]
    for name, value in record.headers or ():
        parts += [name.encode(), value or b""]
    return b"\x00".join(parts)


def _bounds(settings: Settings, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """The log start and end offsets (read_uncommitted: open transactions included) of every
    partition of ``topic``."""
    client = consumer(settings, group_id=None, isolation_level="read_uncommitted")
    try:
        with translate_errors(settings, msg("reading {topic}", topic=topic)):
            partitions = [TopicPartition(topic, p) for p in client.partitions_for_topic(topic)]
            starts = client.beginning_offsets(partitions)
            ends = client.end_offsets(partitions)
    finally:
        client.close()
    return (
        {tp.partition: o for tp, o in starts.items()},
        {tp.partition: o for tp, o in ends.items()},
    )


_NO_COORDINATOR = (
    CoordinatorNotAvailableError,
    CoordinatorLoadInProgressError,
    NotCoordinatorError,
)
"""What a fresh broker answers while its offsets topic does not exist yet or is loading."""


def _committed(settings: Settings, group: str) -> dict[TopicPartition, Any]:
    """The offsets ``group`` has committed; none while the broker has no group coordinator
    yet (a fresh broker before any group committed): then nothing counts as processed, so
    erase waits, and refuses if that lasts, rather than fail with the broker's error."""
    with admin_client(settings) as admin, translate_errors(settings, msg("erasing a subject")):
        try:
            found: dict[TopicPartition, Any] = admin.list_group_offsets({group: None}).get(
                group, {}
            )
        except _NO_COORDINATOR:
            return {}
    return found


def _unprocessed(
    settings: Settings, topic: str, group: str, starts: dict[int, int], ends: dict[int, int]
) -> int:
    """Records of ``topic`` below ``ends`` that ``group`` has not processed: a read_committed
    reader from the group's committed offsets up to the ends (markers and aborted records
    are skipped, so only records the agent still has to read count)."""
    committed = _committed(settings, group)
    client = consumer(settings, group_id=None)
    try:
        with translate_errors(settings, msg("reading {topic}", topic=topic)):
            todo: dict[TopicPartition, int] = {}
            for p, end in ends.items():
                tp = TopicPartition(topic, p)
                held = committed.get(tp)
                done = None if held is None or held.offset < 0 else held.offset
                offset = resume_from(starts[p], done)
                if offset < end:
                    todo[tp] = offset
            if not todo:
                return 0
            client.assign(list(todo))
            for tp, offset in todo.items():
                client.seek(tp, offset)
            left = 0
            for _ in range(20):  # a few fetches: past the markers, or to a record
                for tp, batch in client.poll(timeout_ms=200).items():
                    left += sum(1 for r in batch if r.offset < ends[tp.partition])
                if left or all(client.position(tp) >= ends[tp.partition] for tp in todo):
                    break
            else:
                left = sum(ends[tp.partition] - o for tp, o in todo.items())
            return left
    finally:
        client.close()
