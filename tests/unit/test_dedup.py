"""Deduplication and correlation: replays dropped, content duplicates marked, units linked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from streams.core.dedup import DedupState
from streams.core.report import validate_report
from tests.factories import NOW, incident


def record(**overrides: Any) -> dict[str, Any]:
    return validate_report(incident(**overrides), now=NOW)


def test_same_event_id_is_a_replay_within_the_window() -> None:
    """A second copy of one event id inside the window produces nothing."""
    state = DedupState(window=timedelta(days=30))
    report = record()
    assert not state.observe(report, NOW)[0].replay
    verdict, changes = state.observe(report, NOW + timedelta(days=29))
    assert verdict.replay
    assert changes == []


def test_same_event_id_after_the_window_is_processed_again() -> None:
    """Past the window an event id is new again (its state has expired)."""
    state = DedupState(window=timedelta(days=1))
    report = record()
    state.observe(report, NOW)
    assert not state.observe(report, NOW + timedelta(days=2))[0].replay


def test_same_content_new_event_id_is_marked_duplicate() -> None:
    """The same content from the same unit under a new id within 24 h is duplicate_of the first."""
    state = DedupState()
    first = record()
    again = record(reported_at="2026-11-20T17:00:00Z")
    state.observe(first, NOW)
    verdict, _ = state.observe(again, NOW + timedelta(hours=23))
    assert verdict.duplicate_of == first["event_id"]


def test_same_content_after_a_day_is_not_a_duplicate() -> None:
    """Outside the 24 h content window the report stands on its own."""
    state = DedupState()
    state.observe(record(), NOW)
    assert state.observe(record(), NOW + timedelta(hours=25))[0].duplicate_of is None


def test_same_content_from_another_unit_is_not_a_duplicate_but_correlated() -> None:
    """Two units reporting one subject and category within 72 h are linked, not deduplicated."""
    state = DedupState()
    first = record()
    other = record(unit_id="TJ-PIU-KHUJAND")
    state.observe(first, NOW)
    verdict, _ = state.observe(other, NOW)
    assert verdict.duplicate_of is None
    assert verdict.correlated_with == (first["event_id"],)


def test_same_unit_is_not_correlated_with_itself() -> None:
    """Correlation links reports of different units only."""
    state = DedupState()
    state.observe(record(narrative="first"), NOW)
    assert state.observe(record(narrative="second"), NOW)[0].correlated_with == ()


def test_correlation_window_is_72_hours_of_occurrence() -> None:
    """Reports whose events are more than 72 h apart are not linked."""
    state = DedupState()
    state.observe(
        record(occurred_at="2026-11-10T00:00:00Z", reported_at="2026-11-10T01:00:00Z"), NOW
    )
    late = record(unit_id="TJ-PIU-KHUJAND")
    assert state.observe(late, NOW)[0].correlated_with == ()


def test_restore_from_changelog_gives_the_same_decisions() -> None:
    """State rebuilt from the changes it emitted decides exactly as the original."""
    original = DedupState()
    log = []
    first = record()
    for report in (first, record(unit_id="TJ-PIU-KHUJAND")):
        log.extend(original.observe(report, NOW)[1])
    restored = DedupState()
    for key, value in log:
        restored.restore(key, value)
    assert restored.observe(first, NOW)[0].replay
    assert restored.observe(record(unit_id="KG-PIU-OSH"), NOW)[0].correlated_with == (
        original.observe(record(unit_id="KG-PIU-OSH"), NOW)[0].correlated_with
    )


def test_expired_entries_become_tombstones() -> None:
    """Entries past every window are dropped and returned as tombstones for the changelog."""
    state = DedupState(window=timedelta(days=1))
    state.observe(record(), NOW)
    tombstones = state.expired(NOW + timedelta(days=2))
    assert tombstones
    assert all(value is None for _, value in tombstones)
