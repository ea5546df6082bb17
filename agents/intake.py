"""intake: intel.submissions -> intel.validated, or intel.deadletter with the reason.

On a secure broker (``security_protocol`` not PLAINTEXT) each submission must also be signed by
a unit user registered on ``intel.ref.units`` that may speak for the report's ``unit_id``
(:mod:`streams.core.submission`); the view of that topic is caught up before the first record.
A recall or correction request (a ReportNotice, :mod:`streams.core.notices`) on the same topic
is checked the same way and passed on to intel.validated.

Intake also consumes ``intel.feedback``: an agency's feedback on a disclosure
(:mod:`streams.core.feedback`) that is well formed and keyed by its event id is relayed
unchanged to ``intel.enriched`` under that key, where the event's route instance checks it
against its ledger and the agency's registered key; anything else is a dead letter.
"""

from __future__ import annotations

from datetime import datetime

from agents.base import Agent, Context, Output, Record, State
from agents.deadletter import DeadLetters
from streams.core.feedback import check_feedback
from streams.core.intake import check_notice, check_submission
from streams.core.submission import Registry
from streams.errors import FeedbackInvalidError, IntelshareError
from streams.topics import DEDUP_KEY

__all__ = ["IntakeAgent"]


class IntakeAgent(Agent):
    """Decodes and validates each submission; anything else becomes a dead letter."""

    name = "intake"

    def __init__(self, context: Context) -> None:
        self.source = context.topics.submissions
        self.validated = context.topics.validated
        self.reports = context.codec("Report")
        self.notices = context.codec("ReportNotice")
        self.feedback = context.codec("Feedback")
        self.feedback_topic = context.topics.feedback
        self.extra_sources = (context.topics.feedback,)
        self.enriched = context.topics.enriched
        self.dead_letters = DeadLetters(context)
        self.clock = context.clock
        self.units: Registry | None = None
        if context.settings.security_protocol != "PLAINTEXT":
            units = context.view("units")
            self.views = (units,)
            self.units = units.get

    def process(self, record: Record, state: State | None) -> list[Output]:
        now = self.clock()
        if record.topic == self.feedback_topic:
            return self._relay(record, now)
        notice = self.notices.knows(record.value)
        try:
            if notice:  # a recall or correction request (streams.core.notices)
                checked = check_notice(
                    record.value, record.key, self.notices, headers=record.headers, units=self.units
                )
            else:
                checked = check_submission(
                    record.value, record.key, self.reports, now,
                    headers=record.headers, units=self.units,
                )  # fmt: skip
        except IntelshareError as exc:
            if not exc.dead_letter:
                raise
            return [self.dead_letters.output(record, exc, now)]
        codec = self.notices if notice else self.reports
        return [Output(self.validated, DEDUP_KEY, codec.encode(checked))]

    def _relay(self, record: Record, now: datetime) -> list[Output]:
        """An agency's feedback: on to its event's route instance, or a dead letter."""
        try:
            if not self.feedback.knows(record.value):
                raise FeedbackInvalidError("not a feedback record")
            checked = check_feedback(self.feedback.decode(record.value or b""))
            if record.key != checked["event_id"].encode():
                raise FeedbackInvalidError("event_id: differs from the message key")
        except IntelshareError as exc:
            if not exc.dead_letter:
                raise
            return [self.dead_letters.output(record, exc, now)]
        return [Output(self.enriched, record.key, record.value)]
