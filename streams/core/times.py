"""Times as intelshare writes and reads them: UTC, whole milliseconds (what Avro's
``timestamp-millis`` keeps), ISO 8601 with a zone in text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from streams.i18n import msg

__all__ = ["format_time", "parse_time", "to_millis"]

_EXAMPLE = msg("e.g. {time}", time="2026-11-20T14:05:00Z")


def to_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to whole milliseconds: as an Avro timestamp-millis reads back."""
    if moment.tzinfo is None:
        raise TypeError("a time without a time zone is ambiguous")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z, milliseconds only when there are any."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text.replace(".000Z", "Z")


def parse_time(value: object) -> tuple[str | None, datetime | None]:
    """``(None, time)`` for an ISO 8601 time with a zone (or an aware datetime) from 1970 on;
    ``(problem, None)`` naming what is wrong otherwise."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        if not value.isascii() or not value.isprintable() or len(value) > 40:
            return msg("is not an ISO 8601 time, {example}", example=_EXAMPLE), None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return (
                msg(
                    "{value} is not an ISO 8601 time, {example}",
                    value=repr(value),
                    example=_EXAMPLE,
                ),
                None,
            )
    else:
        return msg("must be an ISO 8601 time with a zone, {example}", example=_EXAMPLE), None
    if moment.tzinfo is None:
        return msg("needs a time zone, e.g. a trailing Z for UTC"), None
    if moment.year < 1970:
        return msg("is before 1970"), None
    return None, moment
