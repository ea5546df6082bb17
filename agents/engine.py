"""The stream-processing engine under every agent: quixstreams on confluent-kafka, with
``processing_guarantee="exactly-once"``.

One agent runs in one process as one quixstreams ``Application`` (quixstreams installs its
signal handlers in the main thread, so one per process): its own consumer group, a fixed
transactional id per agent and instance (a restart fences the dead producer at once instead of
leaving read_committed readers stalled behind its open transaction), static group membership
(``group.instance.id``), so a restart within the session timeout keeps its partitions. Each
checkpoint commits, in ONE Kafka transaction (KIP-447: offsets with the group's metadata), the
outputs of the records processed since the last one, the agent's state changelog and the input
offsets; a crash anywhere aborts it, and the records are processed again.

Agents with state (enrich's dedup, the sequencer's chain head) keep it in quixstreams' RocksDB
store, scoped by quixstreams to the message key: their input is keyed by one constant, so one
partition holds the whole state and a second instance is a standby that takes over when the
active one dies. Route's state (each event's ledger) is scoped to the event id, its input's key,
so its instances share the input partitions as the stateless intake's do, each partition's state
moving with it. Decision record: docs/decisions/0001-stream-engine.md.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import Producer
from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.state.exceptions import ChangelogTopicPartitionNotAssigned

from agents.base import TICK, Agent, Output, Record
from agents.status import Progress
from streams.core.purge import is_roll_marker
from streams.kafka.clients import librdkafka_config
from streams.settings import Settings

__all__ = ["EXIT_AGENT_FAILED", "run_agent"]

log = structlog.get_logger(__name__)

EXIT_AGENT_FAILED = 70
"""An agent process's exit code when it failed and may be started again."""
SESSION_TIMEOUT_MS = 10_000
TRANSACTION_TIMEOUT_MS = 10_000
STALE_ASSIGNMENT_WAIT = SESSION_TIMEOUT_MS / 1000 + 3
"""Seconds an agent whose group handed it an assignment without its state's changelog waits
before it exits, so that the group forgets its static membership (see :func:`run_agent`)."""


def _config(settings: Settings) -> dict[str, Any]:
    common = librdkafka_config(settings)
    return {k: v for k, v in common.items() if k != "bootstrap.servers"}


STATISTICS_MS = 1000
"""How often librdkafka reports the consumer's assignment and lag to the status page."""


def application(
    settings: Settings, agent: Agent, group: str, instance: int, progress: Progress
) -> Application:
    """The quixstreams application of one agent instance; its figures go to ``progress``."""
    identity = f"{group}-{instance}"
    common = _config(settings)

    def statistics(raw: str) -> None:
        progress.absorb(json.loads(raw), agent.source)

    return Application(
        settings.bootstrap_servers,
        consumer_group=group,
        processing_guarantee="exactly-once",
        auto_offset_reset="earliest",
        commit_interval=settings.commit_seconds,  # each checkpoint is one transaction
        state_dir=str(settings.home / "state" / identity),
        consumer_extra_config=common
        | {
            "group.instance.id": identity,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "statistics.interval.ms": STATISTICS_MS,
            "stats_cb": statistics,
        },
        producer_extra_config=common
        | {
            "transactional.id": identity,
            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            "socket.timeout.ms": TRANSACTION_TIMEOUT_MS,  # librdkafka: at most the above
            "linger.ms": 5,
            "message.max.bytes": 2 * 1024 * 1024,
        },
        loglevel=None,  # intelshare configures logging (streams/log.py)
        auto_create_topics=True,  # only quixstreams' own changelogs: ours exist (topics create)
        request_timeout=settings.request_timeout,
        broker_availability_timeout=settings.request_timeout * 4,
    )


class _Emit:
    """Writes an agent's outputs with the application's own transactional producer, so they
    commit in the checkpoint's transaction with the input offsets and the state changelog.

    Each output is already encoded (Avro by the agent): quixstreams' ``to_topic`` would build a
    row, a topic object and run two serializers per record, about a third of what produce
    costs (ops/profile). Every output carries the time it is written, not its input's
    (quixstreams' default): retention, lag and latency figures count from when a disclosure or
    audit record was made. quixstreams 3.28 keeps its producer on the processing context (an
    AttributeError at start if a new version moves it)."""

    def __init__(self, app: Application) -> None:
        self._produce = app._processing_context.producer.produce

    def __call__(self, outputs: list[Output]) -> None:
        stamp = int(time.time() * 1000)
        for output in outputs:
            self._produce(output.topic, output.value, output.key, timestamp=stamp)


def _record(value: bytes | None, key: bytes | None, headers: Any) -> Record:
    context = message_context()
    return Record(context.topic, context.partition, context.offset, key, value, headers or ())


def _count(agent: Agent, progress: Progress, value: bytes | None) -> None:
    if value != TICK:
        progress.processed += 1
    dead = getattr(agent, "dead_letters", None)
    progress.dead_letters = getattr(dead, "count", 0)


def _step(
    agent: Agent,
    progress: Progress,
    emit: Callable[[list[Output]], None],
    value: bytes | None,
    key: Any,
    headers: Any,
    state: Any,
) -> None:
    """Hand one input record to ``agent`` and write its outputs; a roll marker (``erase
    --roll``, :func:`streams.core.purge.is_roll_marker`) is skipped here, for every agent: no
    output, not counted as processed, never a dead letter (its offset commits with the next
    checkpoint)."""
    if is_roll_marker(key, value):
        return
    emit(agent.process(_record(value, key, headers), state))
    _count(agent, progress, value)


def run_agent(
    settings: Settings, agent: Agent, group: str, instance: int, progress: Progress
) -> None:
    """Run ``agent`` until SIGTERM/SIGINT; raises what stopped it otherwise."""
    app = application(settings, agent, group, instance, progress)
    _time_commits(app, agent.name, progress)
    source = app.topic(agent.source, key_deserializer="bytes", value_deserializer="bytes")

    emit = _Emit(app)

    def process(value: bytes | None, key: Any, timestamp: int, headers: Any) -> None:
        _step(agent, progress, emit, value, key, headers, None)

    def process_stateful(
        value: bytes | None, key: Any, timestamp: int, headers: Any, state: Any
    ) -> None:
        _step(agent, progress, emit, value, key, headers, state)

    extras = [
        app.topic(extra, key_deserializer="bytes", value_deserializer="bytes")
        for extra in agent.extra_sources
    ]
    for topic in (source, *extras):  # a stateful agent's state is scoped by each one's keys
        frame = app.dataframe(topic)
        if agent.stateful:
            frame.update(process_stateful, metadata=True, stateful=True)
        else:
            frame.update(process, metadata=True)
    ticker = _Ticker(settings, agent) if agent.tick_seconds else None
    progress.started = True
    log.info("agent_started", agent=agent.name, instance=instance, source=agent.source)
    try:
        if ticker is not None:
            ticker.start()
        app.run()
    except Exception as exc:
        if _caused_by(exc, ChangelogTopicPartitionNotAssigned):
            _outlive_membership(agent.name)
        raise
    finally:
        if ticker is not None:
            ticker.stop()
        progress.started = False
        log.info("agent_stopped", agent=agent.name, processed=progress.processed)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` or an exception it was raised from or during is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _outlive_membership(agent: str) -> None:
    """Wait until the group has forgotten this instance, before the process exits and the
    worker starts it again.

    The group's assignment was made while the agent's changelog topic was unknown to the
    member that computed it (on a cluster, quixstreams creates the topic and the node asked
    does not know it yet), so it holds the input partition and not the changelog's, and
    quixstreams refuses to recover without it. A static member (``group.instance.id``) that
    rejoins within the session timeout is handed that same assignment again, without a
    rebalance: every restart failed the same way, and the worker gave up (issue 10's
    sequencer wedge, reproduced in tests/integration/test_engine.py). Once the session
    timeout has passed with no heartbeat, the coordinator drops the member; the next start
    joins afresh and is assigned both partitions. A static member sends no LeaveGroup on close,
    and librdkafka offers no call that removes one, so waiting is the only way."""
    log.error("agent_assignment_stale", agent=agent, wait_seconds=STALE_ASSIGNMENT_WAIT)
    time.sleep(STALE_ASSIGNMENT_WAIT)


STUCK_COMMIT_SECONDS = 2 * TRANSACTION_TIMEOUT_MS / 1000
"""A checkpoint commit that lasts this long is stuck: the broker aborted its transaction long
ago. librdkafka 2.12's send_offsets_to_transaction can wait forever for a group coordinator
that died (confluentinc/librdkafka#5511) and ignores its timeout (#5456)."""


def _time_commits(app: Application, agent: str, progress: Progress) -> None:
    """Count and time each checkpoint commit (one transaction) for the status page, and end
    the process when one is stuck (:data:`STUCK_COMMIT_SECONDS`): the worker starts it again,
    and its fixed transactional id fences the stuck producer; its input is processed again
    from the last committed offsets, so nothing is lost or doubled.

    quixstreams 3.28 has no public hook around a checkpoint; this wraps its processing
    context's ``commit_checkpoint`` (an AttributeError at start if a new version renames it)."""
    context = app._processing_context
    commit = context.commit_checkpoint
    since: list[float] = []

    def timed(force: bool = False, revoking: bool = False) -> None:
        checkpoint = context.checkpoint
        due = (force or checkpoint.expired()) and not checkpoint.empty()
        began = time.monotonic()
        since[:] = [began] if due else []
        try:
            commit(force=force, revoking=revoking)
        finally:
            since.clear()
        if due:
            progress.committed(time.monotonic() - began)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            began = since[0] if since else None
            if began is not None and time.monotonic() - began > STUCK_COMMIT_SECONDS:
                log.critical("agent_commit_stuck", agent=agent, seconds=STUCK_COMMIT_SECONDS)
                logging.shutdown()
                os._exit(EXIT_AGENT_FAILED)

    context.commit_checkpoint = timed  # type: ignore[method-assign]
    threading.Thread(target=watch, name="commit-watchdog", daemon=True).start()


class _Ticker(threading.Thread):
    """Sends a tick to the agent's input every ``tick_seconds``, keyed like its records."""

    def __init__(self, settings: Settings, agent: Agent) -> None:
        super().__init__(name=f"ticker:{agent.name}", daemon=True)
        self.topic = agent.source
        self.every = agent.tick_seconds or 1.0
        self.key = agent.input_key
        self.producer = Producer(librdkafka_config(settings) | {"enable.idempotence": True})
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            self.producer.produce(self.topic, key=self.key, value=TICK)
            self.producer.poll(0)

    def stop(self) -> None:
        self.stopping.set()
        self.producer.flush(2)
