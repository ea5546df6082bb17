"""enrich: intel.validated -> intel.enriched, with reference data and dedup marks.

Deduplication and correlation state (:class:`streams.core.dedup.DedupState`) lives in the
agent's quixstreams state store, whose changelog is written in the same transaction as the
output, so a restart forgets nothing and repeats nothing. Entries expire with the dedup window.
Its subject index names subjects by :class:`streams.core.dedup.SubjectIndex` (keyed by the
exchange's secret), never by id, because its changelog keeps an entry until it is overwritten.
intel.validated is keyed by one constant, so one partition and one instance hold all of it.
Recall and correction requests pass through unchanged, keyed by their event id, so they reach
the route instance of their report after it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from agents.base import Agent, Context, Output, Record, State
from agents.deadletter import DeadLetters
from streams.core.dedup import DedupState, SubjectIndex
from streams.core.enrich import enrich, facility_of
from streams.errors import IntelshareError
from streams.topics import DEDUP_KEY

__all__ = ["EnrichAgent"]

log = structlog.get_logger(__name__)


class _Expiring:
    """The agent's state as a dedup store whose entries expire after ``ttl``."""

    def __init__(self, state: Any, ttl: timedelta) -> None:
        self._state = state
        self._ttl = ttl

    def get(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._state.set(key, value, ttl=self._ttl)

    def delete(self, key: str) -> None:
        self._state.delete(key)


class EnrichAgent(Agent):
    """Adds facility and subject reference data; drops replays, marks duplicates, links reports."""

    name = "enrich"
    stateful = True
    input_key = DEDUP_KEY

    def __init__(self, context: Context) -> None:
        self.source = context.topics.validated
        self.enriched = context.topics.enriched
        self.facilities = context.view("facilities")
        self.subjects = context.view("subjects")
        self.views = (self.facilities, self.subjects)
        self.reports = context.codec("Report")
        self.notices = context.codec("ReportNotice")
        self.dead_letters = DeadLetters(context)
        self.window = timedelta(days=context.settings.dedup_window_days)
        self.clock = context.clock
        self.index = SubjectIndex(context.keys().pseudonym_secret)

    def process(self, record: Record, state: State | None) -> list[Output]:
        now = self.clock()
        if self.notices.knows(record.value):  # a recall or correction: on to its report's route
            event = self.notices.decode(record.value or b"")["event_id"]
            return [Output(self.enriched, event.encode(), record.value)]
        report = self.reports.decode(record.value or b"")
        try:
            facility = facility_of(report, self.facilities.get)
        except IntelshareError as exc:
            return [self.dead_letters.output(record, exc, now)]
        dedup = DedupState(
            window=self.window, store=_Expiring(state, self.window), index=self.index
        )
        verdict, _ = dedup.observe(report, now)
        if verdict.replay:
            log.info("replay_dropped", event_id=report["event_id"])
            return []
        enriched = enrich(
            report, facility=facility, subjects=self.subjects.get, verdict=verdict, now=now
        )
        key = report["event_id"].encode()
        return [Output(self.enriched, key, self.reports.encode(enriched))]
