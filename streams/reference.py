"""Reference data (DESIGN.md, ``intelshare reference load``): facilities, subjects, agencies.

One JSON object per line with a ``type``. Each line is validated into the record of its topic;
every problem names the line and the field.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from streams.crypto import key_id
from streams.errors import FieldProblem, ReferenceInvalidError

__all__ = ["RISK_LEVELS", "ReferenceRecord", "parse_reference_line", "read_reference_lines"]

RISK_LEVELS = ("LOW", "MEDIUM", "HIGH", "VERY_HIGH")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_AGENCY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_FIELDS = {
    "facility": ("type", "facility_id", "country", "name", "security_level"),
    "subject": ("type", "subject_id", "risk_level", "rftf", "violent_extremist"),
    "agency": ("type", "agency_id", "name", "country", "public_key"),
}
_TOPICS = {
    "facility": ("intel.ref.facilities", "intelshare.Facility", "facility_id"),
    "subject": ("intel.ref.subjects", "intelshare.Subject", "subject_id"),
    "agency": ("intel.ref.agencies", "intelshare.Agency", "agency_id"),
}


class ReferenceRecord(NamedTuple):
    """One validated reference record, ready to publish."""

    kind: str
    """facility, subject or agency."""
    key: str
    """Its id, the message key."""
    record: dict[str, Any]
    """The Avro record."""
    topic: str
    """Topic name without prefix."""
    schema_name: str
    """Full Avro name of its schema."""


def read_reference_lines(text: str) -> Iterator[tuple[str, Any, str | None]]:
    """``(label, parsed object, problem)`` per non-blank line."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label = f"line {number}"
        if len(line) > 64 * 1024:
            yield label, None, "is over 64 KiB"
            continue
        try:
            yield label, json.loads(line), None
        except json.JSONDecodeError as exc:
            yield label, None, f"not valid JSON: {exc.msg} at column {exc.colno}"


def _text(obj: dict[str, Any], key: str, problems: list[FieldProblem], limit: int = 200) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        problems.append(FieldProblem(key, f"must be text of 1-{limit} characters"))
        return ""
    return value


def _matching(
    obj: dict[str, Any], key: str, pattern: re.Pattern[str], problems: list[FieldProblem], what: str
) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        problems.append(FieldProblem(key, f"must be {what}"))
        return ""
    return value


def _flag(
    obj: dict[str, Any], key: str, problems: list[FieldProblem], default: bool | None
) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        problems.append(FieldProblem(key, "must be true or false"))
        return False
    return value


def parse_reference_line(obj: object, label: str, now: datetime) -> ReferenceRecord:
    """Validate one line; ReferenceInvalidError names the line and every field at fault."""
    if not isinstance(obj, dict) or obj.get("type") not in _FIELDS:
        raise ReferenceInvalidError(f"{label}: type: must be facility, subject or agency")
    kind = obj["type"]
    problems: list[FieldProblem] = [
        FieldProblem(str(key)[:40], "is not a field of a " + kind)
        for key in obj
        if key not in _FIELDS[kind]
    ]
    record: dict[str, Any]
    if kind == "facility":
        record = {
            "facility_id": _matching(obj, "facility_id", _ID, problems, "an identifier"),
            "country": _matching(obj, "country", _COUNTRY, problems, "two upper-case letters"),
            "name": _text(obj, "name", problems),
            "security_level": _text(obj, "security_level", problems, 40),
        }
    elif kind == "subject":
        risk = obj.get("risk_level")
        if risk not in RISK_LEVELS:
            problems.append(FieldProblem("risk_level", f"must be one of {', '.join(RISK_LEVELS)}"))
        record = {
            "subject_id": _matching(obj, "subject_id", _ID, problems, "an identifier"),
            "risk_level": risk if isinstance(risk, str) else "",
            "rftf": _flag(obj, "rftf", problems, None),
            "violent_extremist": _flag(obj, "violent_extremist", problems, False),
        }
    else:
        raw = b""
        with contextlib.suppress(binascii.Error, ValueError):
            raw = base64.b64decode(str(obj.get("public_key", "")), validate=True)
        if len(raw) != 32:
            problems.append(
                FieldProblem("public_key", "must be base64 of a raw 32-byte X25519 key")
            )
        country = obj.get("country")
        if country is not None and not (isinstance(country, str) and _COUNTRY.fullmatch(country)):
            problems.append(FieldProblem("country", "must be two upper-case letters"))
        record = {
            "agency_id": _matching(
                obj, "agency_id", _AGENCY, problems, "lower-case letters, digits, '-'"
            ),
            "name": _text(obj, "name", problems),
            "country": country,
            "public_key": raw,
            "key_id": key_id(raw),
            "registered_at": now,
        }
    if problems:
        detail = "; ".join(f"{p.field}: {p.reason}" for p in problems)
        raise ReferenceInvalidError(f"{label}: {detail}")
    topic, schema, key_field = _TOPICS[kind]
    return ReferenceRecord(kind, record[key_field], record, topic, schema)
