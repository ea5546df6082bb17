"""Purging the plaintext topics between the agents at an erasure: only what the agents have
processed, every partition that holds records, in pipeline order, and a bounded wait."""

from __future__ import annotations

import math

import pytest

from streams.core.purge import (
    MAX_WAIT,
    SEQUENCER,
    STAGES,
    Stage,
    check_wait,
    dead_letter_cut,
    drain,
    names,
    purge_offsets,
    resume_from,
)
from streams.errors import ErasureOrderError, PipelineBehindError
from streams.kafka.erasure import _as_received
from streams.topics import AGENT_NAMES, CATALOGUE

STAGE = Stage("intel.validated", "enrich")


def test_the_stages_follow_the_pipeline_and_name_real_agents_and_topics() -> None:
    """Submissions, validated, enriched, in that order, each read by the agent that writes
    the next; the sequencer's input is drained last and never purged."""
    assert [s.topic for s in STAGES] == ["intel.submissions", "intel.validated", "intel.enriched"]
    assert [s.agent for s in STAGES] == ["intake", "enrich", "route"]
    assert SEQUENCER not in STAGES
    names = {spec.name for spec in CATALOGUE}
    assert {s.topic for s in (*STAGES, SEQUENCER)} <= names
    assert {s.agent for s in (*STAGES, SEQUENCER)} <= set(AGENT_NAMES)


def test_an_agent_resumes_from_its_committed_offset_or_the_log_start() -> None:
    """No commit yet, or one below the log's start (records removed by retention): the start;
    otherwise the committed offset."""
    assert resume_from(0, None) == 0
    assert resume_from(5, None) == 5
    assert resume_from(5, 3) == 5
    assert resume_from(5, 9) == 9


def test_every_partition_holding_records_is_purged_up_to_its_drained_end() -> None:
    """A partition with records below its end is purged up to the end; an empty one, or one
    purged already, is left alone."""
    starts = {0: 0, 1: 4, 2: 7, 3: 0}
    ends = {0: 3, 1: 4, 2: 9, 3: 0}
    assert purge_offsets(starts, ends) == {0: 3, 2: 9}
    assert purge_offsets({}, {5: 2}) == {5: 2}
    assert purge_offsets({}, {}) == {}


@pytest.mark.parametrize("wait", [0, 0.5, 60, MAX_WAIT])
def test_a_wait_of_0_to_an_hour_is_taken(wait: float) -> None:
    """0 (look once) to MAX_WAIT seconds, as a float."""
    assert check_wait(wait) == float(wait)


@pytest.mark.parametrize("wait", [-1, MAX_WAIT + 1, math.nan, math.inf, -math.inf])
def test_a_negative_endless_or_undefined_wait_is_refused(wait: float) -> None:
    """A NaN or infinite wait would never end; the error names the setting."""
    with pytest.raises(ErasureOrderError, match="INTELSHARE_ERASE_WAIT"):
        check_wait(wait)


class Clock:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_drain_returns_as_soon_as_nothing_is_left() -> None:
    """Counts of 3, 1, then 0 unprocessed records: two pauses, then done, having said once
    what it waits for; nothing said when nothing was left."""
    left = iter([3, 1, 0])
    clock = Clock()
    said: list[str] = []
    drain(STAGE, lambda: next(left), wait=10, clock=clock, sleep=clock.sleep, pause=0.5,
          say=said.append)  # fmt: skip
    assert clock.slept == [0.5, 0.5]
    assert said == ["waiting up to 10 s for the worker's enrich agent to process 3 records of "
                    "intel.validated"]  # fmt: skip
    drain(STAGE, lambda: 0, wait=10, clock=clock, sleep=clock.sleep, say=said.append)
    assert len(said) == 1


def test_drain_refuses_after_the_wait_naming_the_agent_topic_and_count() -> None:
    """An agent that never catches up: PipelineBehindError (exit 1, retriable) once the wait
    has passed, saying nothing was erased; a wait of 0 looks once."""
    clock = Clock()
    with pytest.raises(PipelineBehindError) as refused:
        drain(STAGE, lambda: 7, wait=2, clock=clock, sleep=clock.sleep, pause=0.5)
    assert clock.now == pytest.approx(102.0)
    text = str(refused.value)
    assert "enrich" in text
    assert "intel.validated" in text
    assert "7 records" in text
    assert "nothing was erased" in text
    assert refused.value.exit_code == 1
    assert refused.value.retriable
    once = Clock()
    with pytest.raises(PipelineBehindError):
        drain(STAGE, lambda: 1, wait=0, clock=once, sleep=once.sleep)
    assert once.slept == []


def test_a_notice_names_a_subject_disclosed_in_clear_by_its_id() -> None:
    """The audit log names a subject disclosed in clear by its commitment; the agency's
    erasure notice names it by the id it received, once, beside any pseudonym."""
    found = {"a": (["d-1", "d-2", "d-3"], ["ps-x", "sc-commit"]), "b": (["d-4"], ["sc-commit"])}
    assert _as_received(found, {"sc-commit", "sl-link"}, "KZ-P-1") == {
        "a": (["d-1", "d-2", "d-3"], ["ps-x", "KZ-P-1"]),
        "b": (["d-4"], ["KZ-P-1"]),
    }
    assert _as_received({"c": (["d-5"], ["sc-commit", "sl-link"])}, {"sc-commit", "sl-link"},
                        "KZ-P-1") == {"c": (["d-5"], ["KZ-P-1"])}  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b'{"subject_id": "KZ-P-1", "role": "SUBJECT"}', True),  # JSON
        (b"\x0cKZ-P-1\x0eSUBJECT", True),  # Avro: a length byte before, the next field after
        (b"garbage KZ-P-1", True),  # at the very end
        (b'{"subject_id": "KZ-P-10"}', False),  # another id that begins alike
        (b"KZ-P-1.2 KZ-P-1_x", False),
        (b"KZ-P-1x KZ-P-1 ", True),  # a later whole occurrence
        (b"kz-p-1", False),  # ids are case-sensitive
        (b'{"subject_id": "XKZ-P-1"}', False),  # another id that ends alike
        (b"\x0eXKZ-P-1\x0eSUBJECT", False),  # the same in Avro
        (b"\x0e" + b"A" * 6 + b"\x0cKZ-P-1", True),  # Avro, the field after a string
        (b"", False),
    ],
)
def test_a_dead_letter_names_the_subject_only_by_the_whole_id(raw: bytes, found: bool) -> None:
    """The id between bytes that cannot continue an id (or Avro's length before it, or the
    ends of the bytes) is a match."""
    assert names(raw, "KZ-P-1") is found


def test_an_avro_length_that_is_an_id_byte_still_matches() -> None:
    """A 23-byte id's Avro length is 46, a dot; a 24-byte id's is 48, the digit 0."""
    for subject in ("KZ-P-" + "1" * 18, "KZ-P-" + "1" * 19):
        length = bytes([2 * len(subject)])
        assert length in b".0"
        assert names(length + subject.encode() + b"\x0eSUBJECT", subject)
        assert not names(b"Q" + subject.encode(), subject)


def test_the_cut_keeps_every_other_dead_letter_below_the_last_naming_the_subject() -> None:
    """Dead letters 4..9, the subject named at 5 and 7: delete below 8, after copying 4 and
    6 forward; 8 and 9 stay where they are. None named: nothing to do."""
    records = [(4, b"a"), (5, b"KZ-P-1"), (6, b"KZ-P-10"), (7, b"x KZ-P-1"), (8, b"b"), (9, b"")]
    assert dead_letter_cut(records, "KZ-P-1") == (8, [4, 6])
    assert dead_letter_cut(records, "KZ-P-2") == (0, [])
    assert dead_letter_cut([], "KZ-P-1") == (0, [])
