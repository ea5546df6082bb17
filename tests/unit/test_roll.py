"""`erase --roll` on the purged topics: which records are roll markers, the segment.ms change
put back as it was, the offsets deleted after a roll, and the engine skipping a marker for
every agent (no output, not counted, no dead letter)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine import _step
from agents.status import Progress
from streams.core.purge import (
    ROLL_KEY,
    ROLL_SEGMENT_MS,
    ROLL_SETTLE,
    is_roll_marker,
    roll_offsets,
    segment_restore,
)
from streams.kafka.erasure import ROLL_KEY as ERASURE_ROLL_KEY


@pytest.mark.parametrize("key", [ROLL_KEY, ROLL_KEY.decode()])
def test_a_tombstone_keyed_by_the_roll_word_is_a_marker(key: object) -> None:
    assert is_roll_marker(key, None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (ROLL_KEY, b""),  # an empty value is a record, not a tombstone
        (ROLL_KEY, b"report"),  # a report someone keyed with the word is still processed
        (b"EV-1", None),
        (None, None),
        (b"intelshare-roll2", None),
        (ROLL_KEY.upper(), None),
    ],
)
def test_anything_else_is_not_a_marker(key: object, value: object) -> None:
    assert not is_roll_marker(key, value)


def test_the_key_topics_and_the_purged_topics_share_one_marker_word() -> None:
    assert ERASURE_ROLL_KEY is ROLL_KEY


def test_segment_ms_goes_back_to_the_topics_own_override_or_to_none() -> None:
    """A topic that had its own segment.ms gets it back; one that had none loses the roll's
    override, so the broker's default applies again."""
    assert segment_restore("60000") == ("SET", "60000")
    assert segment_restore(None) == ("DELETE", None)


def test_the_roll_waits_past_its_segment_ms() -> None:
    assert 0 < ROLL_SEGMENT_MS / 1000 < ROLL_SETTLE < 10


def test_after_a_roll_each_partition_is_deleted_up_to_its_marker_not_past_it() -> None:
    """The marker opens the new segment: deleting below it leaves every closed segment wholly
    below the log start, and the marker itself stays; a partition already started at its
    marker (nothing below it) is left alone."""
    assert roll_offsets({0: 3, 1: 0, 2: 9}, {0: 10, 1: 4, 2: 9}) == {0: 10, 1: 4}
    assert roll_offsets({}, {0: 0}) == {}


class _Agent:
    name = "intake"
    dead_letters = None

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def process(self, record: Any, state: Any) -> list[Any]:
        self.seen.append(record)
        return ["out"]


@pytest.mark.parametrize("key", [ROLL_KEY, ROLL_KEY.decode()])
def test_the_engine_skips_a_marker_for_every_agent(key: object) -> None:
    agent, progress, emitted = _Agent(), Progress("intake", 0), []
    _step(agent, progress, emitted.extend, None, key, (), None)  # type: ignore[arg-type]
    assert agent.seen == []
    assert emitted == []
    assert progress.processed == 0
    assert progress.dead_letters == 0
