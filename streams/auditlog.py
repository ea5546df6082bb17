"""Reading the disclosure log back from Kafka: the audit records and the signed checkpoints.

The one place that turns ``intel.audit`` and ``intel.audit.checkpoints`` into decoded records
(dicts in the shape of their Avro schemas); what is done with them is in streams.audit,
streams.chain and streams.checkpoint, which know nothing of Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from streams.clients import latest_by_key, read_topic
from streams.codec import Codec
from streams.schemas import SchemaSet
from streams.settings import Settings

__all__ = ["audit_records", "checkpoints", "latest_checkpoint", "receipt_times"]


def _codec(settings: Settings, name: str) -> Codec:
    return Codec(SchemaSet.from_directory(settings.schemas_dir), f"intelshare.{name}")


def audit_records(settings: Settings) -> list[dict[str, Any]]:
    """Every committed audit record, in log order."""
    codec = _codec(settings, "AuditRecord")
    topic = settings.topic_prefix + "intel.audit"
    return [codec.decode(record.value) for record in read_topic(settings, topic)]


def checkpoints(settings: Settings) -> list[dict[str, Any]]:
    """Every committed signed checkpoint, in log order."""
    codec = _codec(settings, "Checkpoint")
    topic = settings.topic_prefix + "intel.audit.checkpoints"
    return [codec.decode(record.value) for record in read_topic(settings, topic)]


def latest_checkpoint(settings: Settings) -> dict[str, Any] | None:
    """The checkpoint over the most records, or None before the first."""
    return max(checkpoints(settings), key=lambda c: c["tree_size"], default=None)


def receipt_times(settings: Settings) -> dict[str, datetime]:
    """When each disclosure was opened, from the consultation receipts that verify against
    the receipt key its recipient registered."""
    from streams.receipts import received_times

    agencies = _codec(settings, "Agency")
    topic = settings.topic_prefix + "intel.ref.agencies"
    keys = {
        key.decode(): agencies.decode(value)["signing_key"]
        for key, value in latest_by_key(settings, topic).items()
    }
    codec = _codec(settings, "Receipt")
    receipts = read_topic(settings, settings.topic_prefix + "intel.receipts")
    return received_times((codec.decode(r.value) for r in receipts), keys)
