"""How long each topic keeps what it holds, as operators read it: pure formatting and the
difference between a topic's configuration on the broker and the one the catalogue wants.

Reading the broker is :mod:`streams.kafka.retention`'s; this module knows nothing of Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from streams.core.times import format_time

__all__ = ["ConfigChange", "TopicRetention", "changes", "format_retention", "report_line"]

_DAY_MS = 24 * 60 * 60 * 1000
_HOUR_MS = 60 * 60 * 1000


class ConfigChange(NamedTuple):
    """One configuration value ``topics create`` set on an existing topic."""

    topic: str
    """Full topic name, prefix included."""
    key: str
    """The topic config, e.g. ``retention.ms``."""
    old: str | None
    """Its value on the broker before (None: not set, the broker's default)."""
    new: str
    """The value the catalogue and the settings ask for."""


class TopicRetention(NamedTuple):
    """One line of ``intelshare retention report``."""

    topic: str
    """Full topic name, prefix included."""
    cleanup_policy: str
    """``delete``, ``compact`` or ``compact,delete``."""
    retention_ms: int
    """``retention.ms``; -1 is forever."""
    oldest: datetime | None
    """Timestamp of the oldest record the topic still holds (earliest over its partitions),
    None when it holds none."""


def changes(
    topic: str, current: Mapping[str, str], wanted: Mapping[str, str]
) -> list[ConfigChange]:
    """The values of ``wanted`` that ``current`` (the broker's) does not already have."""
    return [
        ConfigChange(topic, key, current.get(key), value)
        for key, value in sorted(wanted.items())
        if current.get(key) != value
    ]


def format_retention(retention_ms: int) -> str:
    """``forever``, whole days (``7d``), whole hours (``6h``) or milliseconds (``1500ms``)."""
    if retention_ms < 0:
        return "forever"
    if retention_ms and retention_ms % _DAY_MS == 0:
        return f"{retention_ms // _DAY_MS}d"
    if retention_ms and retention_ms % _HOUR_MS == 0:
        return f"{retention_ms // _HOUR_MS}h"
    return f"{retention_ms}ms"


def report_line(row: TopicRetention) -> str:
    """``topic  cleanup.policy=...  retention=...  oldest=<time>|empty``, tab-separated; a topic
    that is only compacted keeps the latest record of each key whatever its age, which its
    retention says (``latest-per-key``)."""
    oldest = format_time(row.oldest.astimezone(UTC)) if row.oldest is not None else "empty"
    deletes = "delete" in row.cleanup_policy.split(",")
    retention = format_retention(row.retention_ms) if deletes else "latest-per-key"
    return "\t".join(
        (
            row.topic,
            f"cleanup.policy={row.cleanup_policy}",
            f"retention={retention}",
            f"oldest={oldest}",
        )
    )
