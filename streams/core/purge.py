"""Purging the plaintext topics between the agents at an erasure: when, up to where, and why
it loses nothing. Pure: the offsets are read, and the records deleted, by
:mod:`streams.kafka.purge`.

``intel.submissions``, ``intel.validated`` and ``intel.enriched`` carry whole reports in clear,
subject ids and narratives included, from the unit to route: they exist before any subject
key does, so key destruction cannot reach them, and their retention (7 days) is too long for
an erasure order. ``intelshare erase`` therefore deletes them with Kafka's DeleteRecords
(KIP-107: the partition's log start offset moves forward, and no client or replica is served
those records again), but only what the agents have processed:

1. **Drain, in pipeline order, before anything is written.** For each stage of
   :data:`STAGES` (a topic and the agent that reads it), erase takes the topic's end offsets,
   then waits until the agent's consumer group has processed everything below them: a
   read_committed reader started at the group's committed offset finds no record below the
   end (what remains is transaction markers, or aborted records that no agent will ever
   read). Stage by stage, because intake's outputs land on ``intel.validated`` after its
   snapshot could have been taken. A stage that does not drain within
   ``INTELSHARE_ERASE_WAIT`` seconds (the worker is stopped, or far behind) makes erase
   refuse, naming the agent and topic, before any notice, audit record or tombstone is
   written: run it again once the worker has caught up. So no record an agent has not
   processed is ever deleted, and the reports about the subject that were on their way are
   disclosed and audited before erase looks for them (the sequencer's input,
   ``intel.audit.pending``, is drained too, since erase reads the chained log; it holds
   commitments, never ids, and is not purged).
2. **Purge after the tombstones**, each drained partition up to the end it was drained to.
3. **Dead letters naming the subject go too.** ``intel.deadletter`` keeps rejected bytes whole
   for their replay window (14 days), often a report in clear, and other reports' dead
   letters there still wait for a replay, so it cannot be cut like the topics above. Erase
   finds the dead letters whose bytes (key, value, headers) name the subject id
   (:func:`names`: the id not followed by another id character, so ``KZ-P-1`` does not
   match ``KZ-P-10``; a byte search, so it also finds bytes that never decoded), copies every
   other dead letter up to the last of them to the end of the same partition (same key,
   value, headers and timestamp: the origin that replay and its markers go by is in the
   value), then deletes the partition up to and including that last one. A run stopped
   between the copy and the delete leaves those others twice (a second replay of a report
   is dropped as a replay by enrich); a dead letter that holds the subject only in a form
   the search cannot see (another encoding, compressed) stays for its window.

What DeleteRecords does not do (measured with a byte scan of the broker's log directory after
an erasure): remove the bytes from the segment files at once. The broker deletes a segment
once the log start offset has passed its last record and it is not the active segment, at
its next retention check (``log.retention.check.interval.ms``, 5 minutes by Kafka's default,
which the local broker keeps) and ``file.delete.delay.ms`` (a minute) later; without a roll,
the segment that held the subject's reports is the active one, so its bytes stay until the
topic's retention (7 days, 14 for dead letters).

4. **Roll, with ``erase --roll``** (:func:`streams.kafka.purge.roll_purged`). Kafka has no
   request to roll a segment: it rolls the active one on an append whose timestamp is
   ``segment.ms`` past the segment's first record. So, for each purged topic: set its
   ``segment.ms`` override to :data:`ROLL_SEGMENT_MS` (an incremental change: the topic's
   other overrides stay), wait :data:`ROLL_SETTLE` seconds (past it, and for the broker to
   apply the change), append one roll marker (:data:`ROLL_KEY`, no value: a tombstone) to
   every partition, then put ``segment.ms`` back as it was (:func:`segment_restore`: the
   previous override, or none). Each marker opens a new segment, so everything below it sits
   in closed segments; erase then drains the pipeline again (the agents skip markers, see
   ``agents/engine.py``, and commit past them) and deletes every partition up to its marker
   (:func:`roll_offsets`), never past it: the closed segments are then wholly below the log
   start, and the broker deletes them at its next retention check. ``intel.deadletter`` is
   rolled too when erase removed a dead letter there; as its other dead letters wait for a
   replay, each one below the marker is first copied past it (as in 3.), then the partition
   is cut at the marker. Why not a small
   ``segment.ms`` for good: every append after it would open a segment (files and index per
   record on a quiet exchange); set for a few seconds, it costs a handful of small segments.
   Measured once on the local broker (README, Erasure): the canary and the id left the
   purged topics' files 2.5 minutes after ``erase --roll`` began (at most about seven: the
   retention check runs every five minutes, the deletion a minute after).

Every partition, not only those holding the subject's reports: finding those would mean
reading and decoding a week of reports in clear, and the others' records are processed
already, so nothing needs them (a report that failed is copied whole to ``intel.deadletter``,
which keeps its own copy for replay; recall and correction requests are answered from route's
ledger, not by re-reading these topics). The cost: other reports' transient copies go too,
so ``intelshare retention report`` shows these topics younger, and a re-processing from the
start of these topics (resetting an agent's group) has nothing left to read, as after their
retention.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from streams.errors import ErasureOrderError, PipelineBehindError
from streams.i18n import msg
from streams.topics import AUDIT_PENDING, ENRICHED, SUBMISSIONS, VALIDATED

__all__ = [
    "MAX_WAIT",
    "ROLL_KEY",
    "ROLL_SEGMENT_MS",
    "ROLL_SETTLE",
    "SEQUENCER",
    "STAGES",
    "Stage",
    "check_wait",
    "dead_letter_cut",
    "drain",
    "is_roll_marker",
    "names",
    "purge_offsets",
    "resume_from",
    "roll_offsets",
    "segment_restore",
]

MAX_WAIT = 3600.0
"""The longest ``erase --wait``, in seconds."""

ROLL_KEY = b"intelshare-roll"
"""The key of the roll markers ``erase --roll`` appends (tombstones: no value): a fixed word, no
one's id."""
ROLL_SEGMENT_MS = 1000
"""The ``segment.ms`` a purged topic has for the few seconds of a roll."""
ROLL_SETTLE = 3.0
"""Seconds between setting :data:`ROLL_SEGMENT_MS` and appending the markers: past it, and
time for the broker to apply the change."""
SEGMENT_MS = "segment.ms"


def is_roll_marker(key: object, value: object) -> bool:
    """Whether a record is a roll marker: key :data:`ROLL_KEY` and no value. Every reader of
    the purged topics skips it (it is no report, and never a dead letter)."""
    return value is None and key in (ROLL_KEY, ROLL_KEY.decode())


def segment_restore(override: str | None) -> tuple[str, str | None]:
    """The incremental config change that puts a topic's ``segment.ms`` back after a roll: SET
    to its previous override, or DELETE when it had none (so the broker's default applies
    again, as before)."""
    return ("SET", override) if override is not None else ("DELETE", None)


def roll_offsets(starts: Mapping[int, int], markers: Mapping[int, int]) -> dict[int, int]:
    """Per partition, the offset to delete the records below after a roll: its marker's (the
    first record of the new segment, so every closed segment is wholly below the log start
    and the marker stays), for the partitions that still hold records below it."""
    return {p: m for p, m in sorted(markers.items()) if m > starts.get(p, 0)}


class Stage(NamedTuple):
    """One plaintext topic and the agent that reads it."""

    topic: str
    """Topic name without the prefix."""
    agent: str
    """The agent whose consumer group reads it."""


STAGES = (Stage(SUBMISSIONS, "intake"), Stage(VALIDATED, "enrich"), Stage(ENRICHED, "route"))
"""The purged topics, in pipeline order: each agent writes the next stage's topic."""
SEQUENCER = Stage(AUDIT_PENDING, "sequencer")
"""Drained after :data:`STAGES` (erase reads the chained log), never purged."""


def check_wait(wait: float) -> float:
    """``wait`` when it is a number of seconds from 0 to :data:`MAX_WAIT`, else
    ErasureOrderError (a NaN or infinite wait would never end, a negative one is a typo)."""
    if not (isinstance(wait, int | float) and math.isfinite(wait) and 0 <= wait <= MAX_WAIT):
        raise ErasureOrderError(
            msg(
                "INTELSHARE_ERASE_WAIT: a number of seconds from 0 to {limit}",
                limit=f"{MAX_WAIT:.0f}",
            )
        )
    return float(wait)


def resume_from(start: int, committed: int | None) -> int:
    """Where the agent's next unprocessed record of a partition may be: its committed offset,
    or the log's start when the group has committed nothing there (or less than the start)."""
    return start if committed is None or committed < start else committed


def purge_offsets(starts: Mapping[int, int], ends: Mapping[int, int]) -> dict[int, int]:
    """Per partition, the offset to delete the records below: the drained end, for the
    partitions that still hold records below it."""
    return {p: end for p, end in sorted(ends.items()) if end > starts.get(p, 0)}


def drain(
    stage: Stage,
    unprocessed: Callable[[], int],
    *,
    wait: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    pause: float = 0.5,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Return once ``unprocessed()`` (the records of the stage's topic below the drained end
    that its agent has not processed) is 0, saying once that it waits when it must;
    PipelineBehindError naming the agent, the topic and the count when it is not 0 within
    ``wait`` seconds."""
    deadline = clock() + wait
    told = False
    while True:
        left = unprocessed()
        if left == 0:
            return
        if clock() >= deadline:
            raise PipelineBehindError(
                msg(
                    "the worker's {agent} agent has not processed {count} records of {topic}"
                    " after {seconds} s; nothing was erased: start the worker (`intelshare"
                    " worker`) or let it catch up, then run erase again",
                    agent=stage.agent,
                    count=left,
                    topic=stage.topic,
                    seconds=f"{wait:.0f}",
                )
            )
        if not told:
            told = True
            say(
                msg(
                    "waiting up to {seconds} s for the worker's {agent} agent to process"
                    " {count} records of {topic}",
                    seconds=f"{wait:.0f}",
                    agent=stage.agent,
                    count=left,
                    topic=stage.topic,
                )
            )
        sleep(pause)


_ID_BYTE = re.compile(rb"[A-Za-z0-9._-]")


def names(raw: bytes, subject_id: str) -> bool:
    """Whether ``raw`` holds ``subject_id`` as a whole id: UTF-8, not followed by another id
    character, and not preceded by one unless that byte is Avro's length of the id (a short
    string's zigzag length is one byte, which may happen to be a digit or a dot), so that
    ``XKZ-P-1`` is not taken for ``KZ-P-1``."""
    needle = subject_id.encode()
    avro_length = 2 * len(needle)
    start = raw.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = raw[start - 1] if start else None
        whole_start = (
            before is None or before == avro_length or not _ID_BYTE.fullmatch(bytes([before]))
        )
        if whole_start and (end == len(raw) or not _ID_BYTE.fullmatch(raw[end : end + 1])):
            return True
        start = raw.find(needle, start + 1)
    return False


def dead_letter_cut(records: list[tuple[int, bytes]], subject_id: str) -> tuple[int, list[int]]:
    """For one partition's dead letters as ``(offset, raw bytes)``, oldest first: the offset to
    delete below (one past the last naming the subject; 0 when none does) and the offsets of
    the others below it, to copy to the end first."""
    hits = [offset for offset, raw in records if names(raw, subject_id)]
    if not hits:
        return 0, []
    cut, found = hits[-1] + 1, set(hits)
    return cut, [offset for offset, _ in records if offset < cut and offset not in found]
