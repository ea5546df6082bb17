"""Operators' view of ``intel.deadletter``: list the rejected messages, and replay the ones that
now pass (for example after a missing facility was loaded).

Replay resubmits the original bytes with their original key to ``intel.submissions``; the
exchange's deduplication makes a second replay of the same report harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from streams.core.codec import Codec, record_codec
from streams.core.intake import ATTEMPT_HEADER, REPLAY_HEADER, check_submission
from streams.core.purge import is_roll_marker
from streams.core.times import format_time
from streams.errors import IntelshareError
from streams.i18n import msg
from streams.kafka.clients import latest_by_key, producer, read_topic, translate_errors
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["ReplayOutcome", "dead_letters", "replay", "replayed_sources", "summary"]


def dead_letters(settings: Settings) -> Iterator[dict[str, Any]]:
    """Every dead letter, oldest first (roll markers, which are none, skipped)."""
    codec = record_codec(settings.schemas_dir, "DeadLetter")
    for record in read_topic(settings, Topics(settings.topic_prefix).deadletter):
        if not is_roll_marker(record.key, record.value):
            yield codec.decode(record.value)


def _event_id(value: bytes, reports: Codec | None) -> str | None:
    """The event id of a dead letter that is a report, else None."""
    try:
        return str(reports.decode(value)["event_id"]) if reports is not None else None
    except IntelshareError:
        return None


def summary(
    letter: dict[str, Any], replayed: set[str] | None = None, reports: Codec | None = None
) -> dict[str, Any]:
    """What an operator sees: origin, error, reason, size and digest, and, given the
    replayed sources, whether it was replayed (``state``); never the bytes."""
    original = letter["original_value"] or b""
    origin = (letter["source_topic"], letter["source_partition"], letter["source_offset"])
    source = "/".join(str(part) for part in origin)
    state = "replayed" if replayed is not None and source in replayed else "open"
    return {
        "source": source,
        "state": state,
        "event_id": _event_id(original, reports),
        "key": (letter["original_key"] or b"").decode("utf-8", "replace"),
        "error": letter["error"],
        "reason": letter["reason"],
        "failed_at": format_time(letter["failed_at"]),
        "attempts": letter["attempts"],
        "bytes": len(original),
        "sha256": hashlib.sha256(original).hexdigest(),
    }


class ReplayOutcome(NamedTuple):
    """What replay did with one dead letter."""

    source: str
    """topic/partition/offset of the original message."""
    replayed: bool
    """True when it was resubmitted."""
    reason: str
    """Why not, when it was not."""


def replayed_sources(settings: Settings, submissions: Iterable[Any] | None = None) -> set[str]:
    """The dead letters (by ``topic/partition/offset``) already replayed: each replay carries
    its source in a header on intel.submissions (read here unless the caller has read it)."""
    found = set()
    if submissions is None:
        submissions = read_topic(settings, Topics(settings.topic_prefix).submissions)
    for record in submissions:
        for name, value in record.headers or ():
            if name == REPLAY_HEADER and value:
                found.add(value.decode("utf-8", "replace"))
    return found


def _still_failing(
    settings: Settings, value: bytes | None, key: bytes | None, now: datetime, known: set[str]
) -> str | None:
    """Why a dead letter would be dead-lettered again, or None when it now passes. ``key`` is
    the original key of a submission (None for a report rejected further on, which carried
    the key of its topic)."""
    if settings.security_protocol != "PLAINTEXT":
        return (
            "a dead letter keeps no unit signature, so the exchange would refuse it again; "
            "the unit must submit the report again with `intelshare submit`"
        )
    try:
        report = check_submission(value, key, record_codec(settings.schemas_dir, "Report"), now)
    except IntelshareError as exc:
        return str(exc)
    if report["facility_id"] not in known:
        return (
            f"facility {report['facility_id']} is still not in the reference data; load it with "
            "`intelshare reference load`, then replay"
        )
    return None


def _event_key(settings: Settings, value: bytes) -> bytes:
    """A submission is keyed by its event id."""
    report = record_codec(settings.schemas_dir, "Report").decode(value)
    return str(report["event_id"]).encode()


def replay(
    settings: Settings,
    letters: Iterator[dict[str, Any]],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[ReplayOutcome]:
    """Resubmit every dead letter not replayed before that would now pass intake and
    enrichment; keep the others with the reason they would fail again."""
    topic = Topics(settings.topic_prefix).submissions
    done = replayed_sources(settings)
    facilities = {
        key.decode() for key in latest_by_key(settings, Topics(settings.topic_prefix).facilities)
    }
    outcomes: list[ReplayOutcome] = []
    sent: set[bytes] = set()
    client = None
    try:
        for letter in letters:
            source = summary(letter)["source"]
            value = letter["original_value"]
            submitted = letter["source_topic"] == topic
            key = letter["original_key"] if submitted else None
            if source in done:
                outcomes.append(ReplayOutcome(source, False, "replayed before"))
                continue
            problem = _still_failing(settings, value, key, clock(), facilities)
            if problem is not None:
                outcomes.append(ReplayOutcome(source, False, problem))
                continue
            assert value is not None
            if value in sent:
                outcomes.append(ReplayOutcome(source, False, "same report replayed in this run"))
                continue
            client = client or producer(settings)
            with translate_errors(settings, msg("replaying dead letters")):
                client.send(
                    topic,
                    key=key if key is not None else _event_key(settings, value),
                    value=value,
                    headers=[
                        (REPLAY_HEADER, source.encode()),
                        (ATTEMPT_HEADER, str(letter["attempts"] + 1).encode()),
                    ],
                ).get(timeout=settings.request_timeout)
            sent.add(value)
            outcomes.append(ReplayOutcome(source, True, ""))
    finally:
        if client is not None:
            client.close()
    return outcomes
