"""What `retention report` prints and what `topics create` changes on existing topics."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.core.retention import (
    ConfigChange,
    TopicRetention,
    changes,
    format_retention,
    report_line,
)


def test_retention_reads_in_days_hours_or_forever() -> None:
    """Operators read 7d, 6h, forever; odd values stay exact in milliseconds."""
    assert format_retention(7 * 86_400_000) == "7d"
    assert format_retention(6 * 3_600_000) == "6h"
    assert format_retention(-1) == "forever"
    assert format_retention(1500) == "1500ms"
    assert format_retention(0) == "0ms"


def test_report_line_names_policy_retention_and_oldest() -> None:
    """One tab-separated line per topic, the oldest record's time in UTC, or empty."""
    oldest = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    row = TopicRetention("intel.submissions", "delete", 7 * 86_400_000, oldest)
    assert report_line(row) == (
        "intel.submissions\tcleanup.policy=delete\tretention=7d\toldest=2026-11-20T14:05:00Z"
    )
    empty = TopicRetention("intel.audit", "delete", -1, None)
    assert report_line(empty).endswith("\tretention=forever\toldest=empty")


def test_compacted_topic_keeps_latest_per_key_whatever_retention_says() -> None:
    """retention.ms does not apply to a compact-only topic, so the report does not claim it."""
    row = TopicRetention("intel.agreements", "compact", 7 * 86_400_000, None)
    assert "\tretention=latest-per-key\t" in report_line(row)
    both = TopicRetention("x", "compact,delete", 86_400_000, None)
    assert "\tretention=1d\t" in report_line(both)


def test_changes_lists_only_values_that_differ() -> None:
    """Aligning is idempotent: values already on the broker are not set again."""
    current = {"retention.ms": "2592000000", "cleanup.policy": "delete"}
    wanted = {"retention.ms": "604800000", "cleanup.policy": "delete", "segment.ms": "60000"}
    assert changes("t", current, wanted) == [
        ConfigChange("t", "retention.ms", "2592000000", "604800000"),
        ConfigChange("t", "segment.ms", None, "60000"),
    ]
    assert changes("t", wanted, wanted) == []
