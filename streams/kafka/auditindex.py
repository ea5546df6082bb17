"""Feeding the oversight index (:mod:`streams.audit.index`) from Kafka: each round reads, from
the offsets the index holds, the new signed checkpoints, then the new audit records, then the
new consultation receipts, so only what is new is decoded and verified.

Before reading on, a round checks that the last record indexed is still in ``intel.audit`` at
its offset with its hash (a log deleted and written again, or cut, is then reported, not
silently indexed on top of); ``audit verify --since-checkpoint`` and the full ``audit verify``
compare more.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import structlog

from streams.audit.index import AuditIndex
from streams.audit.indexdb import postgres_url, schema_for
from streams.audit.verify import VerificationKeys
from streams.core.codec import record_codec
from streams.errors import DecodeError, NotAuthorisedError, TopicMissingError
from streams.i18n import msg
from streams.kafka.auditlog import agencies
from streams.kafka.clients import consumer, translate_errors
from streams.settings import Settings
from streams.topics import Topics

log = structlog.get_logger(__name__)

__all__ = ["Round", "index_path", "open_index", "read_from", "refresh_index"]

_CHUNK = 5000
"""Records verified and committed to the index per transaction."""


class Round(NamedTuple):
    """What one round of feeding did."""

    records: int
    """New records verified and indexed."""
    checkpoints: int
    """New checkpoints read."""
    problem: str | None
    """The log no longer holds the last record indexed as it was, or None."""


def index_path(settings: Settings) -> Path:
    """``$INTELSHARE_HOME/oversight/<prefix>index.sqlite``: one index per log."""
    return settings.home / "oversight" / f"{settings.topic_prefix}index.sqlite"


def open_index(settings: Settings, keys: VerificationKeys, rebuild: bool = False) -> AuditIndex:
    """The oversight index of this log: in the PostgreSQL database of ``oversight_db`` (the
    log's own schema) when set, else in SQLite at :func:`index_path`; ``rebuild`` empties it
    first (the SQLite files are deleted)."""
    if settings.oversight_db:
        url = postgres_url(settings.oversight_db)
        index = AuditIndex.open(url, keys, schema_for(settings.topic_prefix))
        if rebuild:
            index.clear()
        return index
    path = index_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    if rebuild:
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
    return AuditIndex.open(path, keys)


def read_from(
    settings: Settings,
    topic: str,
    offsets: Mapping[int, int],
    schema: str,
    end: int | None = None,
    *,
    lenient: bool = False,
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Decoded ``(partition, offset, record)`` of every partition of ``topic``, each from its
    offset in ``offsets`` (0 when absent) to its end when called (or to ``end``). ``lenient``
    (for the agencies' receipts) skips a value that does not decode instead of raising."""
    from kafka import TopicPartition

    codec = record_codec(settings.schemas_dir, schema)
    client = consumer(settings, group_id=None, max_poll_records=_CHUNK)
    try:
        with translate_errors(settings, msg("reading {topic}", topic=topic)):
            numbers = client.partitions_for_topic(topic)
            if not numbers:
                raise TopicMissingError(
                    msg("topic {topic} does not exist; run `intelshare topics create`", topic=topic)
                )
            partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
            client.assign(partitions)
            ends = client.end_offsets(partitions)
            if end is not None:
                ends = {tp: end for tp in partitions}
            for tp in partitions:
                client.seek(tp, offsets.get(tp.partition, 0))
            while any(client.position(tp) < ends[tp] for tp in partitions):
                for tp, batch in client.poll(timeout_ms=500).items():
                    for message in batch:
                        if message.offset >= ends[tp]:
                            continue
                        try:
                            record = codec.decode(message.value or b"")
                        except DecodeError:
                            if not lenient:
                                raise
                            log.warning("receipt_unreadable", offset=message.offset)
                            continue
                        yield tp.partition, message.offset, record
    finally:
        client.close()


def _records(
    found: Iterator[tuple[int, int, dict[str, Any]]],
) -> Iterator[tuple[int, dict[str, Any]]]:
    return ((offset, record) for _, offset, record in found)


def _tail_problem(settings: Settings, index: AuditIndex) -> str | None:
    last = index.last()
    if last is None:
        return None
    offset, digest = last
    topic = Topics(settings.topic_prefix).audit
    found = next(_records(read_from(settings, topic, {0: offset}, "AuditRecord", offset + 1)), None)
    if found is None or found[0] != offset or found[1]["hash"] != digest:
        return msg(
            "record {seq} of the index is not in the log as indexed (offset {offset}): the log "
            "was cut or rewritten; rebuild the index to see what it holds",
            seq=index.count() - 1,
            offset=offset,
        )
    return None


def refresh_index(settings: Settings, index: AuditIndex, now: datetime | None = None) -> Round:
    """One round: what is new on the checkpoints, the audit log and the receipts."""
    topics = Topics(settings.topic_prefix)
    problem = _tail_problem(settings, index)
    if problem is not None:
        return Round(0, 0, problem)
    at = index.positions()
    checkpoints = index.add_checkpoints(
        _records(read_from(settings, topics.checkpoints, {0: at.checkpoints}, "Checkpoint"))
    )
    added = 0
    found = _records(read_from(settings, topics.audit, {0: at.audit}, "AuditRecord"))
    while chunk := list(itertools.islice(found, _CHUNK)):
        taken = index.add_records(chunk, now or datetime.now(UTC))
        added += taken
        if taken < len(chunk):  # a record did not verify: nothing after it is read
            break
    if added == 0:
        index.add_records([], now or datetime.now(UTC))  # the time of the last check
    try:
        keys = {ident: agency["signing_key"] for ident, agency in agencies(settings).items()}
        receipts = read_from(settings, topics.receipts, at.receipts, "Receipt", lenient=True)
        while batch := list(itertools.islice(receipts, _CHUNK)):
            index.add_receipts(batch, keys)
    except (NotAuthorisedError, TopicMissingError):
        pass  # no receipts readable: the "received" column stays empty
    return Round(added, checkpoints, None)
