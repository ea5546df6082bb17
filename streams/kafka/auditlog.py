"""Reading the disclosure log back from Kafka: audit records, signed checkpoints, receipts, the
registered agencies and, for reconciliation, the feeds.

The one place that turns ``intel.audit``, its checkpoints and receipts into decoded records
(dicts in the shape of their Avro schemas); what is done with them is in :mod:`streams.audit`,
which knows nothing of Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from streams.audit.receipts import received_times
from streams.core.codec import record_codec
from streams.errors import NotAuthorisedError, TopicMissingError
from streams.kafka.clients import latest_by_key, read_topic
from streams.settings import Settings
from streams.topics import Topics

__all__ = [
    "agencies",
    "audit_records",
    "checkpoints",
    "feed_disclosures",
    "latest_checkpoint",
    "receipt_times",
]


def audit_records(settings: Settings) -> list[dict[str, Any]]:
    """Every committed audit record, in log order."""
    codec = record_codec(settings.schemas_dir, "AuditRecord")
    topic = Topics(settings.topic_prefix).audit
    return [codec.decode(record.value) for record in read_topic(settings, topic)]


def checkpoints(settings: Settings) -> list[dict[str, Any]]:
    """Every committed signed checkpoint, in log order."""
    codec = record_codec(settings.schemas_dir, "Checkpoint")
    topic = Topics(settings.topic_prefix).checkpoints
    return [codec.decode(record.value) for record in read_topic(settings, topic)]


def latest_checkpoint(settings: Settings) -> dict[str, Any] | None:
    """The checkpoint over the most records, or None before the first."""
    return max(checkpoints(settings), key=lambda c: c["tree_size"], default=None)


def agencies(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every registered agency's latest record, by agency id."""
    codec = record_codec(settings.schemas_dir, "Agency")
    latest = latest_by_key(settings, Topics(settings.topic_prefix).agencies)
    return {key.decode(): codec.decode(value) for key, value in latest.items()}


def receipt_times(settings: Settings) -> dict[str, datetime]:
    """When each disclosure was opened, from the consultation receipts that verify against
    the receipt key its recipient registered."""
    keys = {ident: agency["signing_key"] for ident, agency in agencies(settings).items()}
    codec = record_codec(settings.schemas_dir, "Receipt")
    receipts = read_topic(settings, Topics(settings.topic_prefix).receipts)
    return received_times((codec.decode(r.value) for r in receipts), keys)


def feed_disclosures(settings: Settings, recipients: Iterable[str]) -> list[dict[str, Any]] | None:
    """Every disclosure on every feed; None when this credential can see none of the feeds
    (an oversight body's may not read them). A feed it cannot see while others are visible
    counts as empty, so the disclosures audited for it are reported missing."""
    names = Topics(settings.topic_prefix)
    wanted = set(recipients)
    codec = record_codec(settings.schemas_dir, "Disclosure")
    disclosures: list[dict[str, Any]] = []
    visible = 0
    for agency in sorted(wanted | set(agencies(settings))):
        try:
            records = read_topic(settings, names.feed(agency))
        except (NotAuthorisedError, TopicMissingError):
            continue
        visible += 1
        disclosures.extend(codec.decode(record.value) for record in records)
    return disclosures if visible or not wanted else None
