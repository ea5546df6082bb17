"""Intake: decide whether bytes from ``intel.submissions`` are a valid report, or a dead letter.

Pure: the codec and the clock are parameters. The same rules as ``intelshare submit`` apply
(the record is turned back into its JSON form and validated), so a producer that bypasses the
command line gains nothing; ``enrichment`` is the exchange's, never a unit's. On a secure broker
(``units`` given) a submission must also carry its unit's signature, and its ``unit_id`` must be
one of that unit's (:mod:`streams.core.submission`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from streams.core.codec import Codec
from streams.core.notices import LABELS, check_request
from streams.core.report import report_to_json, validate_report
from streams.core.submission import Registry, check_unit, verify_submission
from streams.errors import DecodeError, FieldProblem, IntelshareError, ReportInvalidError
from streams.i18n import msg

__all__ = [
    "ATTEMPT_HEADER",
    "REPLAY_HEADER",
    "Origin",
    "attempt_of",
    "check_notice",
    "check_submission",
    "dead_letter_record",
]

REPLAY_HEADER = "intelshare-replay-of"
"""Header of a replayed dead letter: the topic/partition/offset it was first rejected at."""
ATTEMPT_HEADER = "intelshare-attempt"
"""Header of a replayed dead letter: which attempt this is (the first submission is 1)."""


class Origin(NamedTuple):
    """Where a message came from, kept with its dead letter."""

    topic: str
    """Source topic, prefix included."""
    partition: int
    """Source partition."""
    offset: int
    """Source offset."""
    key: bytes | None
    """Source key, as sent."""


def check_submission(
    value: bytes | None,
    key: bytes | None,
    codec: Codec,
    now: datetime,
    *,
    headers: Iterable[tuple[str, bytes | None]] | None = None,
    units: Registry | None = None,
) -> dict[str, Any]:
    """Decode and validate one submission; raise a ``dead_letter`` error when it is not valid.

    ``units`` (secure mode: the registered unit record of a user name) makes the unit's
    signature in ``headers`` and its right to the report's ``unit_id`` part of being valid.
    The signature is checked before the bytes are decoded: nothing unauthenticated is parsed.
    """
    if value is None:
        raise DecodeError(
            msg("the message has no value (a tombstone); a submission must carry a report")
        )
    signer = verify_submission(value, headers, units) if units is not None else None
    record = codec.decode(value)
    if record.get("enrichment") is not None:
        raise ReportInvalidError(
            [FieldProblem("enrichment", msg("is set by the exchange, not a unit"))]
        )
    checked = validate_report(report_to_json(record), now=now)
    if key is not None and key != checked["event_id"].encode():
        problem = FieldProblem("event_id", msg("differs from the message key; key by event_id"))
        raise ReportInvalidError([problem])
    if signer is not None:
        check_unit(signer, checked["unit_id"])
    return checked


def check_notice(
    value: bytes | None,
    key: bytes | None,
    codec: Codec,
    *,
    headers: Iterable[tuple[str, bytes | None]] | None = None,
    units: Registry | None = None,
) -> dict[str, Any]:
    """Decode and check a recall or correction request as :func:`check_submission` checks a
    report: signed by a unit user allowed to speak for its ``unit_id`` (secure mode), well
    formed, and keyed by the event id it concerns (so it reaches that report's partition)."""
    if value is None:
        raise DecodeError(msg("the message has no value (a tombstone)"))
    signer = verify_submission(value, headers, units) if units is not None else None
    checked = check_request(codec.decode(value))
    if key != checked["event_id"].encode():
        problem = FieldProblem("event_id", msg("differs from the message key; key by event_id"))
        raise ReportInvalidError([problem], label=LABELS[checked["kind"]])
    if signer is not None:
        check_unit(signer, checked["unit_id"])
    return checked


def dead_letter_record(
    value: bytes | None, origin: Origin, error: IntelshareError, now: datetime, attempts: int = 1
) -> dict[str, Any]:
    """The intel.deadletter record for a rejected message: original bytes, reason, origin."""
    return {
        "original_value": value,
        "original_key": origin.key,
        "source_topic": origin.topic,
        "source_partition": origin.partition,
        "source_offset": origin.offset,
        "error": type(error).__name__,
        "reason": str(error)[:4000],
        "failed_at": now,
        "attempts": attempts,
    }


def attempt_of(headers: Iterable[tuple[str, bytes]] | None) -> int:
    """The attempt number a replayed message carries; 1 for a first submission."""
    for name, value in headers or ():
        if name == ATTEMPT_HEADER:
            try:
                return max(1, min(int(value), 1_000_000))
            except ValueError:
                return 1
    return 1
