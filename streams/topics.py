"""The topic catalogue: every ``intel.*`` topic of DESIGN.md, its partitions and its configuration.

This is the one place topic names live. Names are the contract; ``Settings.topic_prefix`` is
prepended (empty in production, unique per integration test).

Keys: ``intel.submissions``, ``intel.validated`` and ``intel.enriched`` are keyed by
``event_id``, so every copy of one report lands on one partition, in order, for deduplication;
``intel.agreements`` by agreement id; ``intel.ref.*`` by the record's own id; feeds and audit
topics by disclosure id.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from streams.errors import ConfigError

__all__ = ["CATALOGUE", "INTERNAL", "TopicSpec", "feed_spec", "feed_topic"]

DAY_MS = 24 * 60 * 60 * 1000
_AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class TopicSpec(NamedTuple):
    """One topic of the catalogue."""

    name: str
    """Topic name without the prefix, e.g. ``intel.submissions``."""
    partitions: int
    """Partition count; the audit topics have exactly one, for a total order."""
    config: dict[str, str]
    """Topic-level configuration given at creation."""
    doc: str
    """What the topic holds."""


def _retain(days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)}


_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
_COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}

CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec("intel.submissions", 3, _retain(30), "reports as units submitted them"),
    TopicSpec("intel.validated", 3, _retain(30), "reports that decoded and validated"),
    TopicSpec("intel.enriched", 3, _retain(30), "reports with reference data and dedup marks"),
    TopicSpec("intel.deadletter", 1, _retain(365), "rejected bytes with reason and origin"),
    TopicSpec("intel.audit.pending", 1, _retain(30), "audit entries awaiting the sequencer"),
    TopicSpec("intel.audit", 1, _FOREVER, "the hash-chained, signed audit log"),
    TopicSpec("intel.audit.checkpoints", 1, _FOREVER, "signed tree heads of the audit log"),
    TopicSpec("intel.receipts", 3, _FOREVER, "agencies' signed consultation receipts"),
    TopicSpec("intel.agreements", 1, _COMPACT, "sharing agreements, latest version per id"),
    TopicSpec("intel.ref.facilities", 1, _COMPACT, "facility reference data"),
    TopicSpec("intel.ref.subjects", 1, _COMPACT, "subject reference data"),
    TopicSpec("intel.ref.agencies", 1, _COMPACT, "partner agencies and their public keys"),
)

INTERNAL: tuple[TopicSpec, ...] = (
    TopicSpec("intelshare.enrich-changelog", 1, _COMPACT, "dedup state of the enrich agent (JSON)"),
    TopicSpec("intelshare.sequencer-changelog", 1, _COMPACT, "chain head of the sequencer (JSON)"),
)
"""The agents' own state changelogs: internal, outside the intel.* contract."""

_FEED_CONFIG = _retain(365)


def feed_topic(agency_id: str) -> str:
    """``intel.feed.<agency>``, refusing ids that would make an unsafe topic name."""
    if not _AGENCY_ID.fullmatch(agency_id):
        raise ConfigError(f"agency id {agency_id!r} must be 1-63 lower-case letters, digits or '-'")
    return f"intel.feed.{agency_id}"


def feed_spec(agency_id: str) -> TopicSpec:
    """The catalogue entry of one agency's feed."""
    return TopicSpec(feed_topic(agency_id), 3, dict(_FEED_CONFIG), f"disclosures to {agency_id}")
