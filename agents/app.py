"""The exchange's worker: the four agents, their reference views, and a status page.

Each agent (intake, enrich, route, sequencer) is a :class:`agents.runner.Step` run by a
transactional :class:`agents.runner.StepRunner`; reference data and agreements are
:class:`agents.views.TopicView` s of their compacted topics. ``GET /status/`` on
127.0.0.1:``web_port`` tells whether every step consumes and how much each has processed.
SIGTERM or SIGINT finish the open transactions and stop; a step that fails stops the worker
with exit code 70, so its supervisor restarts it from the last committed transaction.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from agents.enrich import EnrichStep
from agents.intake import IntakeStep
from agents.keys import load_exchange_keys
from agents.route import RouteStep
from agents.runner import Step, StepRunner
from agents.sequencer import SequencerStep
from agents.views import TopicView
from streams.codec import Codec
from streams.dedup import DedupState
from streams.errors import ConfigError
from streams.policy import agreement_from_record
from streams.schemas import SchemaSet
from streams.settings import Settings

__all__ = ["EXIT_STEP_FAILED", "Exchange", "run_worker"]

log = structlog.get_logger(__name__)
EXIT_STEP_FAILED = 70

_RECORDS = (
    "Report", "DeadLetter", "Disclosure", "AuditRecord", "Agreement", "Facility", "Subject",
    "Agency", "Checkpoint",
)  # fmt: skip


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Exchange:
    """The steps and views of one worker, built from settings (no Kafka I/O until run)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = _utc_now) -> None:
        self.settings = settings
        schemas = SchemaSet.from_directory(settings.schemas_dir)
        codec = {name: Codec(schemas, f"intelshare.{name}") for name in _RECORDS}
        keys = load_exchange_keys(settings)
        prefix = settings.topic_prefix

        def view(topic: str, decode: Callable[[bytes], Any]) -> TopicView[Any]:
            return TopicView(settings, prefix + topic, decode)

        self.facilities = view("intel.ref.facilities", codec["Facility"].decode)
        self.subjects = view("intel.ref.subjects", codec["Subject"].decode)
        self.agencies = view("intel.ref.agencies", codec["Agency"].decode)
        self.agreements = view(
            "intel.agreements", lambda raw: agreement_from_record(codec["Agreement"].decode(raw))
        )
        self.steps: tuple[Step, ...] = (
            IntakeStep(settings, codec["Report"], codec["DeadLetter"], clock),
            EnrichStep(
                settings,
                reports=codec["Report"],
                dead=codec["DeadLetter"],
                facilities=self.facilities,
                subjects=self.subjects,
                state=DedupState(window=timedelta(days=settings.dedup_window_days)),
                clock=clock,
            ),
            RouteStep(
                settings,
                reports=codec["Report"],
                disclosures=codec["Disclosure"],
                audits=codec["AuditRecord"],
                dead=codec["DeadLetter"],
                agreements=self.agreements,
                agencies=self.agencies,
                keys=keys,
                clock=clock,
            ),
            SequencerStep(
                settings,
                audits=codec["AuditRecord"],
                checkpoints=codec["Checkpoint"],
                keys=keys,
                clock=clock,
            ),
        )
        wanted = [name.strip() for name in settings.worker_steps.split(",") if name.strip()]
        known = [step.name for step in self.steps]
        if not wanted or set(wanted) - set(known):
            names = ", ".join(known)
            raise ConfigError(f"worker steps {settings.worker_steps!r}: name some of {names}")
        self.runners = [StepRunner(settings, step) for step in self.steps if step.name in wanted]

    def status(self) -> dict[str, Any]:
        """What the status page shows."""
        return {
            "ready": all(r.started for r in self.runners),
            "processed": {r.step.name: r.processed for r in self.runners},
            "agreements": len(self.agreements),
            "agencies": len(self.agencies),
            "facilities": len(self.facilities),
            "subjects": len(self.subjects),
        }

    def stop(self) -> None:
        """Let every step finish its open transaction and return."""
        for runner in self.runners:
            runner.stop()

    async def run(self) -> None:
        """Serve the status page and run every step until stopped or one fails."""
        app = web.Application()

        async def status(request: web.Request) -> web.Response:
            return web.json_response(self.status())

        app.router.add_get("/status/", status)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.settings.web_host, self.settings.web_port).start()
        try:
            async with asyncio.TaskGroup() as group:
                for step_runner in self.runners:
                    group.create_task(step_runner.run(), name=step_runner.step.name)
        finally:
            for topic_view in (self.facilities, self.subjects, self.agencies, self.agreements):
                await topic_view.stop()
            await runner.cleanup()


def run_worker(settings: Settings) -> int:
    """``intelshare worker``: run until SIGTERM/SIGINT (exit 0) or a failed step (exit 70)."""
    exchange = Exchange(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, exchange.stop)
        log.info("worker_starting", web_port=settings.web_port)
        await exchange.run()

    try:
        asyncio.run(main())
    except ExceptionGroup as group:
        for exc in group.exceptions:
            log.critical("step_failed", error=type(exc).__name__, detail=str(exc)[:500])
        return EXIT_STEP_FAILED
    log.info("worker_stopped", processed=exchange.status()["processed"])
    return 0
