"""Reference data (DESIGN.md, ``intelshare reference load``): facilities, subjects and agencies.

The file is JSON lines; each line is one object with a ``type``:

- ``facility``: ``facility_id``, ``country``, ``name``, ``security_level``;
- ``subject``: ``subject_id``, ``risk_level``, ``rftf``, and optionally ``violent_extremist``;
- ``agency``: ``agency_id``, ``name``, optionally ``country``, and ``public_key``, the base64 of
  the raw 32-byte X25519 key (``key_id`` and ``registered_at`` are filled in here).

:func:`read_reference_lines` splits the text and parses each line as JSON, naming broken lines
by number; :func:`parse_reference_line` checks one parsed line and turns it into the record of
its compacted topic, or raises :class:`ReferenceInvalidError` naming every field at fault.
:func:`agency_details` checks ``intelshare agencies register``'s options with the same checks,
and :func:`agency_changes` says how a new agency record differs from the registered one. All
are pure: the clock is a parameter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple, NoReturn

from streams.core.crypto import key_id
from streams.core.fields import Checker, json_type, show
from streams.core.inputs import load_json
from streams.errors import (
    AgencyInvalidError,
    FieldProblem,
    MalformedInputError,
    ReferenceInvalidError,
)
from streams.i18n import msg
from streams.topics import AGENCIES, FACILITIES, SUBJECTS

__all__ = [
    "KEY_BYTES",
    "KINDS",
    "MAX_LEVEL",
    "MAX_LINE",
    "MAX_NAME",
    "PROGRAMME_COUNTRIES",
    "RISK_LEVELS",
    "ReferenceRecord",
    "agency_changes",
    "agency_details",
    "parse_reference_line",
    "read_reference_lines",
]

KINDS = ("facility", "subject", "agency")
"""The values of ``type``."""
SECURITY_LEVELS = ("minimum", "medium", "high", "maximum", "special")
"""The values of a facility's ``security_level``; ``special`` is a special-regime colony."""
RISK_LEVELS = ("LOW", "MEDIUM", "HIGH", "VERY_HIGH")
"""The values of a subject's ``risk_level``."""
PROGRAMME_COUNTRIES = ("IQ", "KZ", "KG", "TJ")
"""The programme's countries; any other ISO 3166-1 alpha-2 code is accepted too."""
MAX_LINE = 64 * 1024
"""Longest line, in characters; a longer one is refused before it is parsed."""
MAX_NAME = 200
"""Longest name of a facility or agency, in characters."""
MAX_LEVEL = 40
"""Longest security level, in characters."""
KEY_BYTES = 32
"""Length of a raw X25519 public key."""

_KEY_TEXT = 64  # base64 of 32 bytes is 44 characters; longer text is not even decoded
_COMPUTED = {  # agency fields filled in here, not given
    "key_id": msg("is computed from public_key; remove it"),
    "registered_at": msg("is set when the line is loaded; remove it"),
}


class ReferenceRecord(NamedTuple):
    """One validated reference line, ready to publish."""

    kind: str
    """``facility``, ``subject`` or ``agency``."""
    key: str
    """Its id (``facility_id``, ``subject_id`` or ``agency_id``): the message key."""
    record: dict[str, Any]
    """The Avro record of ``schema_name``."""
    topic: str
    """Base topic name, without the deployment's prefix, e.g. ``intel.ref.facilities``."""
    schema_name: str
    """Full Avro name of its schema, e.g. ``intelshare.Facility``."""


def read_reference_lines(text: str) -> Iterator[tuple[str, object | None, str | None]]:
    """``(label, parsed object, None)`` or ``(label, None, problem)`` per non-blank line.

    ``label`` is ``line N`` (counting from 1, blank lines included), so a message points at the
    line to fix. Broken JSON, duplicate keys, deep nesting and over-long lines are problems.
    """
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        if not line.strip():
            continue
        label = msg("line {number}", number=number)
        if len(line) > MAX_LINE:
            yield (
                label,
                None,
                msg(
                    "is {length} characters, over the limit of {limit}",
                    length=len(line),
                    limit=MAX_LINE,
                ),
            )
            continue
        try:
            yield label, load_json(line), None
        except MalformedInputError as exc:
            yield (
                label,
                None,
                exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc),
            )


def parse_reference_line(obj: object, label: str, now: datetime) -> ReferenceRecord:
    """Check one parsed line and return its record; ``now`` (timezone-aware) is an agency's
    ``registered_at``.

    Raises :class:`ReferenceInvalidError` with ``"LABEL: field: reason; field: reason"``
    naming every problem found.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(obj, dict):
        _reject(
            label,
            [
                FieldProblem(
                    "record",
                    msg("must be a JSON object, not {json_type}", json_type=json_type(obj)),
                )
            ],
        )
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in _SPECS:
        reason = (
            msg("is required: facility, subject or agency")
            if kind is None
            else msg("{value} is not one of facility, subject or agency", value=show(kind))
        )
        _reject(label, [FieldProblem("type", reason)])
    spec = _SPECS[kind]
    check = Checker()
    computed = _COMPUTED if kind == "agency" else {}
    for key in obj:
        if key != "type" and key not in spec.fields:
            check.fail(
                show(key),
                computed.get(key, msg("is not a field of a {kind}; remove it", kind=kind)),
            )
    record = spec.build(check, obj, now)
    if check.problems:
        _reject(label, check.problems)
    return ReferenceRecord(kind, record[spec.fields[0]], record, spec.topic, spec.schema_name)


def _reject(label: str, problems: list[FieldProblem]) -> NoReturn:
    raise ReferenceInvalidError(label, problems)


def agency_details(
    agency_id: object, name: object, country: object | None
) -> tuple[str, str, str | None]:
    """``agencies register``'s ``--id``, ``--name`` and ``--country``, checked as an agency line
    of reference data is (``country`` None: an international body).

    Raises :class:`AgencyInvalidError` naming each option at fault, the value given (cut short
    and escaped) and what is expected.
    """
    check = Checker()
    ident = check.agency_id(agency_id, "--id")
    text = check.text(name, "--name", MAX_NAME)
    code = check.country(country, "--country") if country is not None else None
    if check.problems or ident is None or text is None:
        raise AgencyInvalidError(check.problems)
    return ident, text, code


_COMPARED = (
    ("name", "name"),
    ("country", "country"),
    ("public_key", "public key"),
    ("signing_key", "receipt key"),
)


def agency_changes(current: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """How ``new`` differs from the ``current`` agency record, one phrase per field (``name
    'A' -> 'B'``; keys by key id); empty when only ``registered_at`` differs."""
    changes = []
    for field, words in _COMPARED:
        old, now = current.get(field), new.get(field)
        if (old or None) == (now or None):
            continue
        if isinstance(old, bytes) or isinstance(now, bytes):
            before, after = _key_label(old), _key_label(now)
        else:
            before, after = show(old, 40), show(now, 40)
        changes.append(f"{words} {before} -> {after}")
    return changes


def _key_label(raw: object) -> str:
    return key_id(raw) if isinstance(raw, bytes) and raw else "none"


def _public_key(check: Checker, value: Any, path: str) -> bytes:
    """The raw 32 bytes of a base64 X25519 public key."""
    text = check.string(value, path) if value is not None else check.required({}, path)
    if text is None:
        return b""
    if len(text) > _KEY_TEXT:
        check.fail(
            path, msg("is {count} characters; base64 of a 32-byte key is 44", count=len(text))
        )
        return b""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        check.fail(path, msg("is not base64 (of the raw 32-byte X25519 public key)"))
        return b""
    if len(raw) != KEY_BYTES:
        check.fail(
            path, msg("decodes to {count} bytes; a raw X25519 public key is 32", count=len(raw))
        )
    elif not any(raw):
        check.fail(path, msg("is all zero bytes, not a public key"))
    return raw


def _text(check: Checker, obj: Mapping[str, Any], key: str, limit: int) -> str:
    value = check.required(obj, key)
    return (check.text(value, key, limit) if value is not None else None) or ""


def _facility(check: Checker, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "facility_id": check.identifier(obj.get("facility_id"), "facility_id") or "",
        "country": check.country(obj.get("country"), "country") or "",
        "name": _text(check, obj, "name", MAX_NAME),
        "security_level": _security_level(check, obj),
    }


def _security_level(check: Checker, obj: Mapping[str, Any]) -> str:
    """One of :data:`SECURITY_LEVELS`, read case-insensitively and with an optional
    " security" after it ("Maximum security" is maximum)."""
    text = _text(check, obj, "security_level", MAX_LEVEL)
    if not text:
        return ""
    level = text.strip().lower().removesuffix("security").strip()
    if level not in SECURITY_LEVELS:
        check.fail(
            "security_level",
            msg(
                "{text} is not a security level: use one of {levels} (the prison "
                "service's own class, in those words)",
                text=show(text, 40),
                levels=", ".join(SECURITY_LEVELS),
            ),
        )
        return ""
    return level


def _subject(check: Checker, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "subject_id": check.identifier(obj.get("subject_id"), "subject_id") or "",
        "risk_level": check.one_of(obj.get("risk_level"), RISK_LEVELS, "risk_level") or "",
        "rftf": check.flag(obj.get("rftf"), "rftf"),
        "violent_extremist": check.flag(obj.get("violent_extremist", False), "violent_extremist"),
    }


def _agency(check: Checker, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    agency_id = check.agency_id(obj.get("agency_id"), "agency_id") or ""
    name = _text(check, obj, "name", MAX_NAME)
    country = check.country(obj["country"], "country") if obj.get("country") is not None else None
    raw = _public_key(check, obj.get("public_key"), "public_key")
    return {
        "agency_id": agency_id,
        "name": name,
        "country": country,
        "public_key": raw,
        "key_id": key_id(raw),
        "registered_at": now,
        "signing_key": b"",  # receipt keys are registered with `intelshare agencies register`
    }


class _Spec(NamedTuple):
    fields: tuple[str, ...]
    """Accepted fields besides ``type``; the first is the id and message key."""
    topic: str
    schema_name: str
    build: Callable[[Checker, Mapping[str, Any], datetime], dict[str, Any]]


_SPECS = {
    "facility": _Spec(
        ("facility_id", "country", "name", "security_level"),
        FACILITIES,
        "intelshare.Facility",
        _facility,
    ),
    "subject": _Spec(
        ("subject_id", "risk_level", "rftf", "violent_extremist"),
        SUBJECTS,
        "intelshare.Subject",
        _subject,
    ),
    "agency": _Spec(
        ("agency_id", "name", "country", "public_key"),
        AGENCIES,
        "intelshare.Agency",
        _agency,
    ),
}
