"""Deduplication at its edges: each window to the millisecond, the sweep's direction, the
changelog's tombstones, and which fields make two reports the same."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from streams.core.dedup import DedupState, SubjectIndex, Verdict, content_digest
from streams.core.erasure import KeyLookup
from streams.core.report import validate_report
from streams.errors import KeyFileError
from tests.factories import NOW, incident

MS = timedelta(milliseconds=1)


def record(**overrides: Any) -> dict[str, Any]:
    return validate_report(incident(**overrides), now=NOW)


def subject(ident: str) -> list[dict[str, str]]:
    return [{"subject_id": ident, "role": "SUBJECT"}]


def test_the_windows_are_what_was_asked() -> None:
    """Defaults of 30 days, 24 h and 72 h, in milliseconds; the horizon is the longest."""
    state = DedupState()
    assert (state.window_ms, state.content_ms, state.correlation_ms) == (
        30 * 86_400_000,
        86_400_000,
        72 * 3_600_000,
    )
    assert state.horizon == timedelta(days=30)
    wide = DedupState(window=timedelta(hours=1), correlation_window=timedelta(days=90))
    assert wide.horizon == timedelta(days=90)
    assert DedupState(content_window=timedelta(days=40)).horizon == timedelta(days=40)


def test_a_replay_up_to_the_last_millisecond_of_the_window() -> None:
    """An event id seen at T is a replay until T + window - 1 ms, and new at T + window."""
    report = record()
    state = DedupState(window=timedelta(hours=1))
    state.observe(report, NOW)
    assert state.observe(report, NOW + timedelta(hours=1) - MS)[0].replay
    state = DedupState(window=timedelta(hours=1))
    state.observe(report, NOW)
    verdict, changes = state.observe(report, NOW + timedelta(hours=1))
    assert not verdict.replay
    at = int(NOW.timestamp() * 1000) + 3_600_000
    assert changes[0] == (f"seen:{report['event_id']}", {"at": at})


def test_a_duplicate_up_to_the_last_millisecond_of_the_content_window() -> None:
    """The same content under a new id is a duplicate until 24 h - 1 ms after the first."""
    first = record()
    state = DedupState()
    state.observe(first, NOW)
    assert (
        state.observe(record(), NOW + timedelta(hours=24) - MS)[0].duplicate_of
        == (first["event_id"])
    )
    state = DedupState()
    state.observe(first, NOW)
    assert state.observe(record(), NOW + timedelta(hours=24))[0].duplicate_of is None


def test_a_duplicate_does_not_restart_the_content_window() -> None:
    """A duplicate points at the first report and leaves the first's entry as it was."""
    first = record()
    state = DedupState()
    state.observe(first, NOW)
    verdict, changes = state.observe(record(), NOW + timedelta(hours=1))
    assert verdict.duplicate_of == first["event_id"]
    assert not [key for key, _ in changes if key.startswith("content:")]
    third = state.observe(record(), NOW + timedelta(hours=24) - MS)[0]
    assert third.duplicate_of == first["event_id"]


def test_correlation_up_to_the_last_millisecond_of_its_window() -> None:
    """Occurrences 72 h - 1 ms apart are linked, either way round; 72 h apart are not."""
    first = record(occurred_at="2026-11-20T00:00:00Z", reported_at="2026-11-25T00:00:00Z")
    for other_time, linked in [
        ("2026-11-22T23:59:59.999Z", True),
        ("2026-11-23T00:00:00Z", False),
        ("2026-11-17T00:00:00.001Z", True),
        ("2026-11-17T00:00:00Z", False),
    ]:
        state = DedupState()
        state.observe(first, NOW)
        other = record(unit_id="TJ-PIU-KHUJAND", occurred_at=other_time,
                       reported_at="2026-11-25T00:00:00Z")  # fmt: skip
        expected = (first["event_id"],) if linked else ()
        assert state.observe(other, NOW)[0].correlated_with == expected, other_time


def test_reports_about_different_subjects_are_not_linked() -> None:
    """Two units' reports in one category about different prisoners are not correlated, nor
    are reports about one prisoner in different categories."""
    state = DedupState()
    state.observe(record(subjects=subject("TJ-P-000001")), NOW)
    other = record(unit_id="TJ-PIU-KHUJAND", subjects=subject("TJ-P-000002"))
    assert state.observe(other, NOW)[0].correlated_with == ()
    violence = record(unit_id="TJ-PIU-KHUJAND", subjects=subject("TJ-P-000001"),
                      category="VIOLENCE")  # fmt: skip
    assert state.observe(violence, NOW)[0].correlated_with == ()


def test_a_report_without_subjects_is_linked_to_nothing() -> None:
    """No subjects, no correlation key: nothing links to it and it links to nothing."""
    state = DedupState()
    state.observe(record(subjects=[]), NOW)
    verdict, changes = state.observe(record(unit_id="TJ-PIU-KHUJAND", subjects=[]), NOW)
    assert verdict.correlated_with == ()
    assert not [key for key, _ in changes if key.startswith("subject:")]


def test_one_earlier_report_is_named_once_however_many_subjects_it_shares() -> None:
    """Two shared subjects link to the earlier report once; the index is per subject."""
    both = subject("TJ-P-000001") + subject("TJ-P-000002")
    state = DedupState()
    first = record(subjects=both)
    _, changes = state.observe(first, NOW)
    index = sorted(key for key, _ in changes if key.startswith("subject:"))
    assert index == ["subject:TJ-P-000001:RECRUITMENT", "subject:TJ-P-000002:RECRUITMENT"]
    verdict = state.observe(record(unit_id="TJ-PIU-KHUJAND", subjects=both), NOW)[0]
    assert verdict.correlated_with == (first["event_id"],)


def test_the_subject_index_keeps_the_latest_fifty() -> None:
    """A prisoner's index holds the 50 newest reports of the window, the newest last."""
    state = DedupState()
    ids = []
    for i in range(60):
        report = record(unit_id=f"TJ-PIU-U{i}", subjects=subject("TJ-P-000001"))
        verdict, changes = state.observe(report, NOW)
        ids.append(report["event_id"])
    assert len(verdict.correlated_with) == 50
    assert verdict.correlated_with == tuple(ids[9:59])
    (index,) = [value for key, value in changes if key.startswith("subject:")]
    assert is_entry(index["reports"][-1], ids[59], "TJ-PIU-U59")
    assert [e["event_id"] for e in index["reports"]] == ids[10:]


def is_entry(entry: dict[str, Any], event_id: str, unit_id: str) -> bool:
    occurred = int(record()["occurred_at"].timestamp() * 1000)
    return entry == {"event_id": event_id, "unit_id": unit_id, "occurred": occurred}


def test_the_sweep_keeps_fresh_entries_so_a_replay_after_it_is_still_a_replay() -> None:
    """Sweeping right after a report removes nothing of it: a replay is still dropped."""
    state = DedupState(window=timedelta(hours=2), content_window=timedelta(hours=1))
    report = record()
    state.observe(report, NOW)
    size = len(state)
    assert state.expired(NOW + timedelta(minutes=30)) == []
    assert len(state) == size
    assert state.observe(report, NOW + timedelta(minutes=31))[0].replay


def test_the_sweep_removes_what_every_window_has_passed() -> None:
    """An entry is swept when both the replay and content windows have passed, not before:
    at the longer window exactly, not a millisecond earlier."""
    state = DedupState(window=timedelta(hours=2), content_window=timedelta(hours=1))
    report = record()
    state.observe(report, NOW)
    assert state.expired(NOW + timedelta(hours=2) - MS) == []
    before = len(state)
    swept = state.expired(NOW + timedelta(hours=2))
    assert len(state) == before - 2  # the subject index has no time of its own
    assert sorted(key for key, _ in swept) == sorted(
        [f"seen:{report['event_id']}", next(k for k, _ in swept if k.startswith("content:"))]
    )
    assert all(value is None for _, value in swept)
    assert not state.observe(report, NOW + timedelta(hours=2))[0].replay


def test_restore_applies_tombstones() -> None:
    """A changelog tombstone (None) deletes the entry, in memory and in a store of one's own;
    a tombstone for an entry never written is harmless."""
    report = record()
    state = DedupState()
    _, changes = state.observe(report, NOW)
    for key, _ in changes:
        state.restore(key, None)
    state.restore("seen:never-written", None)
    assert len(state) == 0
    assert not state.observe(report, NOW)[0].replay

    class Store(dict[str, Any]):
        def set(self, key: str, value: Any) -> None:
            self[key] = value

        def delete(self, key: str) -> None:
            del self[key]

    store = Store()
    kept = DedupState(store=store)
    kept.observe(report, NOW)
    assert f"seen:{report['event_id']}" in store
    kept.restore(f"seen:{report['event_id']}", None)
    assert f"seen:{report['event_id']}" not in store
    assert kept.expired(NOW + timedelta(days=400)) == []
    assert len(kept) == 0


def test_the_content_digest_ignores_id_reporting_time_and_enrichment() -> None:
    """Two reports differing only in event id, reporting time or the exchange's enrichment
    have one digest; any other field changes it."""
    one = record()
    digest = content_digest(one)
    other = record(reported_at="2026-11-21T00:00:00Z")
    assert content_digest(other) == digest
    enriched = one | {"enrichment": {"country": "TJ", "received_at": NOW}}
    assert content_digest(enriched) == digest
    assert content_digest(record(narrative="Something else.")) != digest
    assert content_digest(record(occurred_at="2026-11-20T14:05:01Z")) != digest
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_the_content_digest_does_not_depend_on_the_order_of_fields() -> None:
    """The same content with its fields (and the grading's) in another order is the same
    content, as when one copy was decoded with another schema version."""
    one = record()
    shuffled = dict(reversed(list(one.items())))
    shuffled["grading"] = dict(reversed(list(one["grading"].items())))
    assert content_digest(shuffled) == content_digest(one)


def test_the_verdicts_are_exactly_what_they_say() -> None:
    """A replay is (True, no duplicate, no correlation); a new report is not a replay."""
    state = DedupState()
    report = record()
    first, _ = state.observe(report, NOW)
    assert first == Verdict(False, None, ())
    assert first.replay is False
    assert state.observe(report, NOW)[0] == Verdict(True, None, ())


SECRET = bytes(range(32))


def test_the_agent_s_index_names_subjects_by_a_keyed_hash_and_still_links() -> None:
    """With a SubjectIndex (as the enrich agent uses) no index key or value holds the subject
    id, and two units' reports about one subject are still linked."""
    index = SubjectIndex(SECRET)
    state = DedupState(index=index)
    first = record(subjects=subject("TJ-P-000001"))
    _, changes = state.observe(first, NOW)
    keys = [key for key, _ in changes if key.startswith("subject:")]
    assert keys == [f"subject:{index('TJ-P-000001')}:RECRUITMENT"]
    assert "TJ-P-000001" not in repr(changes)
    verdict = state.observe(record(unit_id="TJ-PIU-KHUJAND", subjects=subject("TJ-P-000001")),
                            NOW)[0]  # fmt: skip
    assert verdict.correlated_with == (first["event_id"],)


def test_a_subject_index_is_keyed_stable_and_unlike_the_key_topic_s_lookup() -> None:
    """Same secret and id, same name; another id or secret, another; never the key topic's
    lookup of the id (a key of its own); a short secret is refused; repr shows no key."""
    index = SubjectIndex(SECRET)
    name = index("TJ-P-000001")
    assert name == SubjectIndex(SECRET)("TJ-P-000001")
    assert name.startswith("si-")
    assert len(name) == 29
    assert name != index("TJ-P-000002")
    assert name != SubjectIndex(bytes(range(1, 33)))("TJ-P-000001")
    assert name[3:] != KeyLookup(SECRET)("TJ-P-000001")[3:]
    assert repr(index) == "SubjectIndex()"
    with pytest.raises(KeyFileError):
        SubjectIndex(b"short")
