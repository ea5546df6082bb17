"""The Faust app: hosts the four agents of the exchange and its web views.

Each agent (intake, enrich, route, sequencer) is a :class:`agents.runner.Step` run by a
transactional :class:`agents.runner.StepRunner` as a Faust task; reference data and agreements
are :class:`agents.views.TopicView` s of their compacted topics. A step that fails stops the
worker (exit 70) so that its supervisor restarts it from the last committed transaction.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import structlog

from agents.enrich import EnrichStep
from agents.intake import IntakeStep
from agents.keys import load_exchange_keys
from agents.route import RouteStep
from agents.runner import Step, StepRunner
from agents.sequencer import SequencerStep
from agents.views import TopicView
from streams.codec import Codec
from streams.dedup import DedupState
from streams.policy import agreement_from_record
from streams.schemas import SchemaSet
from streams.settings import Settings

__all__ = ["Exchange", "create_app"]

log = structlog.get_logger(__name__)
EXIT_STEP_FAILED = 70


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Exchange:
    """The steps and views of one worker, built from settings (no Kafka I/O until run)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = _utc_now) -> None:
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
        window = timedelta(days=settings.dedup_window_days)
        self.steps: tuple[Step, ...] = (
            IntakeStep(settings, codec["Report"], codec["DeadLetter"], clock),
            EnrichStep(
                settings,
                reports=codec["Report"],
                dead=codec["DeadLetter"],
                facilities=self.facilities,
                subjects=self.subjects,
                state=DedupState(window=window),
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
            SequencerStep(settings, audits=codec["AuditRecord"], keys=keys, clock=clock),
        )
        self.runners = [StepRunner(settings, step) for step in self.steps]

    def status(self) -> dict[str, Any]:
        """Counts for the status page."""
        return {
            "ready": all(r.started for r in self.runners),
            "processed": {r.step.name: r.processed for r in self.runners},
            "agreements": len(self.agreements),
            "agencies": len(self.agencies),
            "facilities": len(self.facilities),
            "subjects": len(self.subjects),
        }


_RECORDS = (
    "Report", "DeadLetter", "Disclosure", "AuditRecord", "Agreement", "Facility", "Subject",
    "Agency",
)  # fmt: skip


def create_app(settings: Settings) -> faust.App:
    """The Faust app with one task per agent and a ``/status/`` page."""
    exchange = Exchange(settings)
    app = faust.App(
        f"{settings.topic_prefix}intelshare",
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        web_host="127.0.0.1",
        web_port=settings.web_port,
        datadir=str(settings.home / "worker"),
        topic_replication_factor=1,
        autodiscover=False,
    )

    for runner in exchange.runners:
        app.task(_supervised(runner))

    @app.page("/status/")
    async def status(web: Any, request: Any) -> Any:
        return web.json(exchange.status())

    return app


def _supervised(runner: StepRunner) -> Callable[[], Any]:
    async def run() -> None:
        try:
            await runner.run()
        except BaseException as exc:
            log.critical("step_failed", step=runner.step.name, error=repr(exc)[:500])
            sys.stderr.flush()
            os._exit(EXIT_STEP_FAILED)

    run.__name__ = f"run_{runner.step.name}"
    return run


def run_worker(settings: Settings) -> int:
    """Run the worker until interrupted (``intelshare worker``)."""
    app = create_app(settings)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()
    return 0
