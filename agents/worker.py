"""The exchange's worker: the agents, their reference views, and a status page.

Each agent of :data:`AGENTS` (intake, enrich, route, sequencer) is run by a transactional
:class:`agents.runner.AgentRunner`; reference data and agreements are
:class:`agents.views.TopicView` s of their compacted topics. ``GET /status`` on
127.0.0.1:``web_port`` tells whether every agent consumes and how much each has processed.
SIGTERM or SIGINT finish the open transactions and stop; an agent that fails stops the worker
with exit code 70, so its supervisor restarts it from the last committed transaction.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from agents.base import Agent, Context
from agents.enrich import EnrichAgent
from agents.intake import IntakeAgent
from agents.keys import load_exchange_keys
from agents.route import RouteAgent
from agents.runner import AgentRunner
from agents.sequencer import SequencerAgent
from agents.views import TopicView
from streams.core.codec import record_codec
from streams.core.policy import agreement_from_record
from streams.errors import ConfigError
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["AGENTS", "EXIT_AGENT_FAILED", "Worker", "run_worker"]

log = structlog.get_logger(__name__)
EXIT_AGENT_FAILED = 70

AGENTS: tuple[type[Agent], ...] = (
    IntakeAgent,
    EnrichAgent,
    RouteAgent,
    SequencerAgent,
)
"""Every agent, in the order a report meets them; a new agent is one more line here."""
NAMES = tuple(agent.name for agent in AGENTS)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """The agents and views of one worker process, built from settings (no Kafka I/O until
    :meth:`run`); ``settings.worker_agents`` chooses which agents it runs."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = _utc_now) -> None:
        self.settings = settings
        wanted = [name.strip() for name in settings.worker_agents.split(",") if name.strip()]
        if not wanted or set(wanted) - set(NAMES):
            raise ConfigError(
                f"worker agents {settings.worker_agents!r}: name some of {', '.join(NAMES)} "
                "(--agents or INTELSHARE_WORKER_AGENTS)"
            )
        topics = Topics(settings.topic_prefix)

        def codec(name: str) -> Any:
            return record_codec(settings.schemas_dir, name)

        def view(topic: str, decode: Callable[[bytes], Any]) -> TopicView[Any]:
            return TopicView(settings, topic, decode)

        self.views = (
            view(topics.facilities, codec("Facility").decode),
            view(topics.subjects, codec("Subject").decode),
            view(topics.agencies, codec("Agency").decode),
            view(
                topics.agreements, lambda raw: agreement_from_record(codec("Agreement").decode(raw))
            ),
            view(topics.units, codec("Unit").decode),
        )
        context = Context(
            settings, topics, codec, *self.views,
            keys=functools.cache(lambda: load_exchange_keys(settings)), clock=clock,
        )  # fmt: skip
        agents = [make(context) for make in AGENTS if make.name in wanted]
        self.runners = [AgentRunner(settings, agent) for agent in agents]

    def status(self) -> dict[str, Any]:
        """What the status page shows."""
        facilities, subjects, agencies, agreements, units = self.views
        return {
            "ready": all(r.started for r in self.runners),
            "processed": {r.agent.name: r.processed for r in self.runners},
            "agreements": len(agreements),
            "agencies": len(agencies),
            "facilities": len(facilities),
            "subjects": len(subjects),
            "units": len(units),
        }

    def stop(self) -> None:
        """Let every agent finish its open transaction and return."""
        for runner in self.runners:
            runner.stop()

    async def run(self) -> None:
        """Serve the status page and run every agent until stopped or one fails."""
        app = web.Application()

        async def status(request: web.Request) -> web.Response:
            return web.json_response(self.status())

        app.router.add_get("/status", status)
        app.router.add_get("/status/", status)
        app.router.add_get("/", status)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.settings.web_host, self.settings.web_port).start()
        try:
            async with asyncio.TaskGroup() as group:
                for agent_runner in self.runners:
                    group.create_task(agent_runner.run(), name=agent_runner.agent.name)
                group.create_task(self._announce_ready())
        finally:
            for topic_view in self.views:
                await topic_view.stop()
            await runner.cleanup()

    async def _announce_ready(self) -> None:
        while not all(r.started for r in self.runners):
            await asyncio.sleep(0.2)
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/status"
        log.warning("worker_ready", agents=[r.agent.name for r in self.runners], status_url=url)


def run_worker(settings: Settings) -> int:
    """``intelshare worker``: run until SIGTERM/SIGINT (exit 0) or a failed agent (exit 70)."""
    worker = Worker(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        log.info("worker_starting", web_port=settings.web_port)
        await worker.run()

    try:
        asyncio.run(main())
    except ExceptionGroup as group:
        for exc in group.exceptions:
            log.critical("agent_failed", error=type(exc).__name__, detail=str(exc)[:500])
        return EXIT_AGENT_FAILED
    log.info("worker_stopped", processed=worker.status()["processed"])
    return 0
