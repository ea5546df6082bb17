"""The exchange's worker: one process per agent, and the status page over them.

``intelshare worker`` starts one child process per agent of :data:`AGENTS` it runs (each a
quixstreams application, :mod:`agents.engine`), serves ``/status`` and ``/metrics`` on
127.0.0.1:``web_port`` and logs ``worker_ready`` with that address once every agent runs.
SIGTERM or SIGINT let every agent commit its open checkpoint and stop (exit 0). An agent process
that fails is started again (at most five times a minute); one that fails for good (a missing
key, a bad setting) or too often stops the others, and the worker exits 70 for its supervisor.
Before it starts any agent the worker waits, with back-off, up to ``broker_wait`` seconds for
the broker to answer, saying so in one ``intelshare:`` line; if it never does, it exits 2. A
child dies with the worker (``PR_SET_PDEATHSIG``), so ``kill -9`` of the worker is a crash of
all of it.

``--instance N`` names this worker's instance of each agent: the same agent may run in several
workers (on several machines), each with its own instance number; they share the agent's
consumer group, each with a fixed transactional id and static membership of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from agents.base import Agent, Context
from agents.engine import EXIT_AGENT_FAILED, run_agent
from agents.enrich import EnrichAgent
from agents.intake import IntakeAgent
from agents.keys import load_exchange_keys
from agents.route import RouteAgent
from agents.sequencer import SequencerAgent
from agents.status import (
    Progress,
    ProgressWriter,
    StatusServer,
    read_status,
    run_folder,
    status_listening,
)
from agents.views import TopicView
from streams.core.codec import record_codec
from streams.core.policy import agreement_from_record
from streams.errors import BrokerUnavailableError, ConfigError, IntelshareError
from streams.kafka.clients import BrokerProbe
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["AGENTS", "EXIT_AGENT_FAILED", "NAMES", "run_worker"]

log = structlog.get_logger(__name__)
_CHILD = "INTELSHARE_AGENT_PROCESS"
"""Set in a child's environment: run the one agent named, in this process."""
VIEW_TIMEOUT = 120.0
STOP_GRACE = 60.0
"""Seconds the agents have to end their transactions once the worker stops, before SIGKILL."""
_EXIT_FOR_GOOD = 78
"""A child's exit code when starting it again cannot help (a missing key, a bad setting)."""
RESTARTS = (5, 60.0)
"""An agent that fails is started again, at most this many times within this many seconds."""
PROBE_SECONDS = 1.0
"""How long one look for the broker may take; SIGTERM is not acted on while it lasts."""
BACKOFF = (0.5, 5.0)
"""The first pause between looks for the broker, doubled after each look up to the second."""

AGENTS: tuple[type[Agent], ...] = (
    IntakeAgent,
    EnrichAgent,
    RouteAgent,
    SequencerAgent,
)
"""Every agent, in the order a report meets them; a new agent is one more line here."""
NAMES = tuple(agent.name for agent in AGENTS)


def _wanted(settings: Settings) -> list[str]:
    wanted = [name.strip() for name in settings.worker_agents.split(",") if name.strip()]
    if not wanted or set(wanted) - set(NAMES):
        raise ConfigError(
            f"worker agents {settings.worker_agents!r}: name some of {', '.join(NAMES)} "
            "(--agents or INTELSHARE_WORKER_AGENTS)"
        )
    return wanted


def context(settings: Settings, clock: Callable[[], datetime] | None = None) -> Context:
    """The shared parts an agent is built from; views are made on first use."""
    topics = Topics(settings.topic_prefix)

    def codec(name: str) -> Any:
        return record_codec(settings.schemas_dir, name)

    decoders: dict[str, tuple[str, Callable[[bytes], Any]]] = {
        "facilities": (topics.facilities, codec("Facility").decode),
        "subjects": (topics.subjects, codec("Subject").decode),
        "agencies": (topics.agencies, codec("Agency").decode),
        "agreements": (
            topics.agreements,
            lambda raw: agreement_from_record(codec("Agreement").decode(raw)),
        ),
        "units": (topics.units, codec("Unit").decode),
        "subject_keys": (topics.subject_keys, codec("SubjectKey").decode),
        "unit_keys": (topics.unit_keys, codec("UnitKey").decode),
    }

    @functools.cache
    def view(name: str) -> TopicView[Any]:
        topic, decode = decoders[name]
        return TopicView(settings, topic, decode)

    return Context(
        settings, topics, codec, view,
        keys=functools.cache(lambda: load_exchange_keys(settings)),
        clock=clock or (lambda: datetime.now(UTC)),
    )  # fmt: skip


def run_worker(settings: Settings) -> int:
    """``intelshare worker``: the agents, until SIGTERM/SIGINT (exit 0) or a failure (70)."""
    wanted = _wanted(settings)
    if os.environ.get(_CHILD) == "1" and len(wanted) == 1:
        return _run_one(settings, wanted[0])
    return _supervise(settings, wanted)


def _run_one(settings: Settings, name: str) -> int:
    """Run one agent in this process (a child of the worker); its exit code tells the worker
    whether starting it again can help."""
    try:
        agent = next(make for make in AGENTS if make.name == name)(context(settings))
    except IntelshareError as exc:  # a missing key, a bad setting: for good
        return _failed(name, exc, _EXIT_FOR_GOOD)
    progress = Progress(name, settings.worker_instance)
    writer = ProgressWriter(settings.home, progress)
    writer.start()
    try:
        for view in agent.views:
            view.ready(VIEW_TIMEOUT)
        progress.views = {v.topic.rsplit(".", 1)[-1]: len(v) for v in agent.views}
        agent.progress = progress
        group = Topics(settings.topic_prefix).agent_group(name)
        run_agent(settings, agent, group, settings.worker_instance, progress)
    except IntelshareError as exc:  # a broker away for a while is worth another start
        return _failed(name, exc, EXIT_AGENT_FAILED if exc.retriable else _EXIT_FOR_GOOD)
    except Exception as exc:
        # quixstreams wraps what went wrong (PartitionAssignmentError "Error during partition
        # assignment"): the cause is what an operator needs to see
        cause = exc.__cause__ or exc.__context__
        log.critical(
            "agent_failed", agent=name, error=type(exc).__name__, detail=str(exc)[:500],
            cause=f"{type(cause).__name__}: {str(cause)[:500]}" if cause else None,
        )  # fmt: skip
        return EXIT_AGENT_FAILED
    finally:
        for view in agent.views:
            view.stop()
        writer.stop()
    return 0


def _failed(name: str, exc: IntelshareError, code: int) -> int:
    log.critical("agent_failed", agent=name, error=type(exc).__name__, detail=str(exc)[:500])
    print(f"intelshare: agent {name}: {exc}", file=sys.stderr)
    return code


def _die_with_parent() -> None:
    """In the child before exec: be killed when the worker dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _spawn(settings: Settings, name: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ) | {
        _CHILD: "1",
        "INTELSHARE_WORKER_AGENTS": name,
        "INTELSHARE_WORKER_INSTANCE": str(settings.worker_instance),
    }
    env.pop("INTELSHARE_WORKER_STEPS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, preexec_fn=_die_with_parent
    )


def _supervise(settings: Settings, wanted: list[str]) -> int:
    where = status_listening(settings)  # a page it may not serve stops it before anything runs
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not _await_broker(settings, stopping):
        if stopping:
            log.info("worker_stopped", waiting_for_broker=True)
            return 0
        log.info("worker_no_broker", bootstrap=settings.bootstrap_servers)
        return BrokerUnavailableError.exit_code
    instance = settings.worker_instance
    keys = [(name, instance) for name in wanted]
    server = StatusServer(settings.web_host, settings.web_port, settings.home, keys, where.context)
    server.start()
    for name, number in keys:  # a figure left by an earlier run must not read as ready
        (run_folder(settings.home) / f"{name}-{number}.json").unlink(missing_ok=True)
    children = {name: _spawn(settings, name) for name in wanted}
    log.info("worker_starting", agents=wanted, instance=instance, web_port=settings.web_port)
    announced = False
    failed: str | None = None
    restarts = _Restarts(functools.partial(_spawn, settings))
    try:
        while not stopping and failed is None:
            time.sleep(0.2)
            failed = restarts.tend(children)
            if not announced and _all_started(settings, keys):
                url = where.url(settings.web_port, "/status")
                log.warning("worker_ready", agents=wanted, instance=instance, status_url=url)
                announced = True
    finally:
        _stop_children(list(children.values()))
        server.stop()
    if failed is not None:
        code = children[failed].returncode
        log.critical("agent_failed", agent=failed, exit_code=code)
        return EXIT_AGENT_FAILED
    log.info("worker_stopped")
    return 0


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each agent still running, again each second until it ends: quixstreams loses a
    SIGTERM that lands while its loop starts (``run`` sets it running after installing the
    handler); one still running after STOP_GRACE seconds is killed (its transaction aborts)."""
    deadline = time.monotonic() + STOP_GRACE
    while (running := [c for c in children if c.poll() is None]) and time.monotonic() < deadline:
        for child in running:
            child.send_signal(signal.SIGTERM)
        until = min(time.monotonic() + 1.0, deadline)
        while any(c.poll() is None for c in running) and time.monotonic() < until:
            time.sleep(0.05)
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def _await_broker(settings: Settings, stopping: list[int]) -> bool:
    """Whether the broker answered within ``settings.broker_wait`` seconds, looked for with
    back-off until then or until a signal lands in ``stopping``. Says once, on stderr, that it
    waits; with a wait of 0 a broker that does not answer is a :class:`BrokerUnavailableError`.
    """
    deadline = time.monotonic() + settings.broker_wait
    where = (
        f"no Kafka broker answers at {settings.bootstrap_servers}; start the local one with "
        "`intelshare broker start`, or set KAFKA_BOOTSTRAP_SERVERS to one that runs"
    )
    with BrokerProbe(settings) as probe:
        if probe.answers(PROBE_SECONDS):
            return True
        if settings.broker_wait == 0:
            raise BrokerUnavailableError(where)
        wait = f"{settings.broker_wait:g} s"
        print(
            f"intelshare: {where}; waiting up to {wait} (INTELSHARE_BROKER_WAIT)", file=sys.stderr
        )
        log.info("worker_waiting_for_broker", bootstrap=settings.bootstrap_servers, wait=wait)
        pause = BACKOFF[0]
        while not stopping and (left := deadline - time.monotonic()) > 0:
            _sleep(min(pause, left), stopping)
            left = deadline - time.monotonic()
            if not stopping and left > 0 and probe.answers(min(PROBE_SECONDS, left)):
                log.info("worker_broker_answered", bootstrap=settings.bootstrap_servers)
                return True
            pause = min(pause * 2, BACKOFF[1])
    return False


def _sleep(seconds: float, stopping: list[int]) -> None:
    """Sleep, but wake within 0.1 s of a signal."""
    until = time.monotonic() + seconds
    while not stopping and (left := until - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))


class _Restarts:
    """Starts an agent process again when it fails (its last transaction aborted, its input
    is processed again from the committed offsets): a start-up race such as a state changelog
    topic not yet known to every broker of a cluster, or a broker restarting, need not stop
    the whole worker. A process that fails for good, or too often, does."""

    def __init__(self, spawn: Callable[[str], subprocess.Popen[bytes]]) -> None:
        self.spawn = spawn
        self.times: dict[str, list[float]] = {}

    def tend(self, children: dict[str, subprocess.Popen[bytes]]) -> str | None:
        """Restart each failed child that may be; the name of one that may not, if any."""
        for name, child in list(children.items()):
            code = child.poll()
            if code is None:
                continue
            now = time.monotonic()
            recent = [t for t in self.times.get(name, []) if now - t < RESTARTS[1]]
            if code == _EXIT_FOR_GOOD or len(recent) >= RESTARTS[0]:
                return name
            self.times[name] = [*recent, now]
            log.warning("agent_restarting", agent=name, exit_code=code, attempt=len(recent) + 1)
            time.sleep(len(recent))  # 0, 1, 2 .. s: a little back-off
            children[name] = self.spawn(name)
        return None


def _all_started(settings: Settings, keys: list[tuple[str, int]]) -> bool:
    return bool(read_status(settings.home, keys)["ready"])
