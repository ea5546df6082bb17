"""What became of one report (``intelshare status EVENT_ID``), read from the exchange's own
topics: how often it was submitted, whether it was dead-lettered (and why, and whether that was
replayed), whether it was accepted, a duplicate of or correlated with others, and under which
agreements it was disclosed to how many agencies.

Everything is read as a read_committed consumer reads it, so what is shown was committed. It
reads whole topics (submissions, dead letters, enriched reports, the audit log): a unit's
question now and then, not a hot path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from streams.core.codec import record_codec
from streams.core.times import format_time
from streams.errors import IntelshareError
from streams.kafka.auditlog import audit_records
from streams.kafka.clients import read_topic
from streams.kafka.deadletters import dead_letters, replayed_sources, summary
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["ReportStatus", "report_status", "report_unit"]


class ReportStatus(NamedTuple):
    """Everything the exchange's topics say about one event id."""

    event_id: str
    submitted: list[datetime]
    """When each message with this event id reached intel.submissions, oldest first."""
    dead_letters: list[dict[str, Any]]
    """Each dead letter of the report (:func:`streams.kafka.deadletters.summary`)."""
    accepted_at: datetime | None
    """When it was validated and enriched; None when it was not (yet)."""
    duplicate_of: str | None
    """The earlier report with the same content, which alone is disclosed."""
    correlated_with: list[str]
    """Reports on the same subject and category within the correlation window."""
    disclosures: list[dict[str, Any]]
    """Per disclosure: agreement id and version, recipient, time, audit sequence."""

    @property
    def found(self) -> bool:
        """True when the exchange has seen the report at all."""
        return bool(self.submitted or self.dead_letters or self.accepted_at)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form: times in ISO 8601 UTC."""
        return {
            "event_id": self.event_id,
            "submitted": [format_time(t) for t in self.submitted],
            "dead_letters": self.dead_letters,
            "accepted_at": format_time(self.accepted_at) if self.accepted_at else None,
            "duplicate_of": self.duplicate_of,
            "correlated_with": self.correlated_with,
            "disclosures": [
                d | {"disclosed_at": format_time(d["disclosed_at"])} for d in self.disclosures
            ],
            "agencies": len({d["recipient"] for d in self.disclosures}),
        }


def report_status(settings: Settings, event_id: str) -> ReportStatus:
    """Read what the exchange's topics hold about ``event_id``."""
    topics = Topics(settings.topic_prefix)
    key = event_id.encode()
    submissions = read_topic(settings, topics.submissions)  # once: submissions and replays
    submitted = sorted(
        datetime.fromtimestamp(r.timestamp / 1000, UTC) for r in submissions if r.key == key
    )
    reports = record_codec(settings.schemas_dir, "Report")
    replayed = replayed_sources(settings, submissions)
    letters = [
        row
        for row in (summary(d, replayed, reports) for d in dead_letters(settings))
        if row["event_id"] == event_id or (row["event_id"] is None and row["key"] == event_id)
    ]
    enrichment = None
    for record in read_topic(settings, topics.enriched):
        if record.key != key:
            continue
        try:
            enrichment = reports.decode(record.value)["enrichment"] or enrichment
        except IntelshareError:
            continue
    audited = [r for r in audit_records(settings) if r["event_id"] == event_id]
    collected = [r["disclosed_at"] for r in audited if r["kind"] == "collection"]
    disclosures = [
        {
            "agreement_id": r["agreement_id"],
            "agreement_version": r["agreement_version"],
            "recipient": r["recipient"],
            "disclosed_at": r["disclosed_at"],
            "sequence": r["sequence"],
        }
        for r in audited
        if r["kind"] == "disclosure"  # not its collection, nor a notice about it
    ]
    return ReportStatus(
        event_id=event_id,
        submitted=submitted,
        dead_letters=letters,
        # the collection record outlives intel.enriched's retention and an erase's purge
        accepted_at=enrichment["received_at"] if enrichment else min(collected, default=None),
        duplicate_of=enrichment["duplicate_of"] if enrichment else None,
        correlated_with=list(enrichment["correlated_with"]) if enrichment else [],
        disclosures=disclosures,
    )


def report_unit(settings: Settings, event_id: str) -> str | None:
    """The unit that submitted ``event_id``, from the report as the exchange accepted it
    (``intel.enriched``); None when no such report reached routing."""
    topics = Topics(settings.topic_prefix)
    key = event_id.encode()
    reports = record_codec(settings.schemas_dir, "Report")
    unit = None
    for record in read_topic(settings, topics.enriched):
        if record.key == key and reports.knows(record.value):
            try:
                unit = reports.decode(record.value)["unit_id"]
            except IntelshareError:
                continue
    return unit
