"""Reference data (DESIGN.md, ``intelshare reference load``): facilities, subjects and agencies.

The file is JSON lines; each line is one object with a ``type``:

- ``facility``: ``facility_id``, ``country``, ``name``, ``security_level``;
- ``subject``: ``subject_id``, ``risk_level``, ``rftf``, and optionally ``violent_extremist``;
- ``agency``: ``agency_id``, ``name``, optionally ``country``, and ``public_key``, the base64 of
  the raw 32-byte X25519 key (``key_id`` and ``registered_at`` are filled in here).

:func:`read_reference_lines` splits the text and parses each line as JSON, naming broken lines
by number; :func:`parse_reference_line` checks one parsed line and turns it into the record of
its compacted topic, or raises :class:`ReferenceInvalidError` naming every field at fault. Both
are pure: the clock is a parameter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple, NoReturn

from streams.errors import FieldProblem, ReferenceInvalidError

__all__ = [
    "KEY_BYTES",
    "KINDS",
    "MAX_LEVEL",
    "MAX_LINE",
    "MAX_NAME",
    "PROGRAMME_COUNTRIES",
    "RISK_LEVELS",
    "ReferenceRecord",
    "parse_reference_line",
    "read_reference_lines",
]

KINDS = ("facility", "subject", "agency")
"""The values of ``type``."""
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

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as streams.report's identifiers
_AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # as agreements' recipients and feed names
_COUNTRY = re.compile(r"[A-Z]{2}")
_KEY_TEXT = 64  # base64 of 32 bytes is 44 characters; longer text is not even decoded
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_COMPUTED = {  # agency fields filled in here, not given
    "key_id": "is computed from public_key; remove it",
    "registered_at": "is set when the line is loaded; remove it",
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
        label = f"line {number}"
        if len(line) > MAX_LINE:
            yield label, None, f"is {len(line)} characters, over the limit of {MAX_LINE}"
            continue
        try:
            yield label, json.loads(line, object_pairs_hook=_unique_keys), None
        except json.JSONDecodeError as exc:
            yield label, None, f"not valid JSON: {exc.msg} at column {exc.colno}"
        except _DuplicateKeyError as exc:
            yield label, None, f"not valid: key {_show(exc.args[0])} appears twice"
        except RecursionError:
            yield label, None, "not valid: JSON nested too deeply"


class _DuplicateKeyError(ValueError):
    """A JSON object repeats a key (json would silently keep the last)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


def parse_reference_line(obj: object, label: str, now: datetime) -> ReferenceRecord:
    """Check one parsed line and return its record; ``now`` (timezone-aware) is an agency's
    ``registered_at``.

    Raises :class:`ReferenceInvalidError` with ``"LABEL: field: reason; field: reason"``
    naming every problem found.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(obj, dict):
        _reject(label, [FieldProblem("record", f"must be a JSON object, not {_json_type(obj)}")])
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in _SPECS:
        reason = "is required:" if kind is None else f"{_show(kind)} is not one of"
        _reject(label, [FieldProblem("type", f"{reason} facility, subject or agency")])
    spec = _SPECS[kind]
    check = _Checker()
    computed = _COMPUTED if kind == "agency" else {}
    for key in obj:
        if key != "type" and key not in spec.fields:
            check.fail(_show(key), computed.get(key, f"is not a field of a {kind}; remove it"))
    record = spec.build(check, obj, now)
    if check.problems:
        _reject(label, check.problems)
    return ReferenceRecord(kind, record[spec.fields[0]], record, spec.topic, spec.schema_name)


def _reject(label: str, problems: list[FieldProblem]) -> NoReturn:
    detail = "; ".join(f"{p.field}: {p.reason}" for p in problems)
    raise ReferenceInvalidError(f"{label}: {detail}")


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return names.get(type(value), type(value).__name__)


class _Checker:
    """Collects every problem of one line while building its record."""

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def fail(self, field: str, reason: str) -> None:
        self.problems.append(FieldProblem(field, reason))

    def string(self, obj: Mapping[str, Any], key: str) -> str | None:
        value = obj.get(key)
        if value is None:
            self.fail(key, "is required")
        elif not isinstance(value, str):
            self.fail(key, f"must be a string, not {_json_type(value)}")
        else:
            return value
        return None

    def identifier(self, obj: Mapping[str, Any], key: str) -> str:
        value = self.string(obj, key)
        if value is not None and not _IDENTIFIER.fullmatch(value):
            self.fail(
                key,
                f"{_show(value)} is not 1-64 letters, digits, '.', '_' or '-', starting "
                "with a letter or digit",
            )
        return value or ""

    def agency_id(self, obj: Mapping[str, Any], key: str) -> str:
        value = self.string(obj, key)
        if value is not None and not _AGENCY_ID.fullmatch(value):
            self.fail(
                key,
                f"{_show(value)} is not 1-63 lower-case letters, digits or '-', starting "
                "with a letter or digit",
            )
        return value or ""

    def country(self, obj: Mapping[str, Any], key: str) -> str:
        value = self.string(obj, key)
        if value is not None and not _COUNTRY.fullmatch(value):
            self.fail(
                key,
                f"{_show(value)} is not an ISO 3166-1 alpha-2 code (two upper-case letters, "
                f"e.g. {', '.join(PROGRAMME_COUNTRIES)})",
            )
        return value or ""

    def text(self, obj: Mapping[str, Any], key: str, limit: int) -> str:
        value = self.string(obj, key)
        if value is None:
            return ""
        if len(value) > limit:
            self.fail(key, f"is {len(value)} characters, over the limit of {limit}")
        elif not value.strip():
            self.fail(key, "must not be empty")
        elif not _clean(value):
            self.fail(key, "holds control characters or invalid Unicode")
        return value

    def choice(self, obj: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
        value = self.string(obj, key)
        if value is not None and value not in allowed:
            self.fail(key, f"{_show(value)} is not one of {', '.join(allowed)}")
        return value or ""

    def flag(self, obj: Mapping[str, Any], key: str, *, default: bool | None = None) -> bool:
        value = obj.get(key, default)
        if value is None:
            self.fail(key, "is required: true or false")
        elif not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {_json_type(value)}")
        else:
            return value
        return False

    def public_key(self, obj: Mapping[str, Any], key: str) -> bytes:
        value = self.string(obj, key)
        if value is None:
            return b""
        if len(value) > _KEY_TEXT:
            self.fail(key, f"is {len(value)} characters; base64 of a 32-byte key is 44")
            return b""
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.fail(key, "is not base64 (of the raw 32-byte X25519 public key)")
            return b""
        if len(raw) != KEY_BYTES:
            self.fail(key, f"decodes to {len(raw)} bytes; a raw X25519 public key is 32")
        elif not any(raw):
            self.fail(key, "is all zero bytes, not a public key")
        return raw


def _clean(value: str) -> bool:
    """No control characters, lone surrogates or bidirectional overrides."""
    return not any(
        unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS for char in value
    )


def _key_id(raw_public: bytes) -> str:
    """First 16 hex characters of the SHA-256 of a raw public key.

    A private copy of ``streams.crypto.key_id`` (same definition) so that this module does not
    depend on the crypto module; tests check the two agree.
    """
    return hashlib.sha256(raw_public).hexdigest()[:16]


def _facility(check: _Checker, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "facility_id": check.identifier(obj, "facility_id"),
        "country": check.country(obj, "country"),
        "name": check.text(obj, "name", MAX_NAME),
        "security_level": check.text(obj, "security_level", MAX_LEVEL),
    }


def _subject(check: _Checker, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "subject_id": check.identifier(obj, "subject_id"),
        "risk_level": check.choice(obj, "risk_level", RISK_LEVELS),
        "rftf": check.flag(obj, "rftf"),
        "violent_extremist": check.flag(obj, "violent_extremist", default=False),
    }


def _agency(check: _Checker, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    agency_id = check.agency_id(obj, "agency_id")
    name = check.text(obj, "name", MAX_NAME)
    country = check.country(obj, "country") if obj.get("country") is not None else None
    raw = check.public_key(obj, "public_key")
    return {
        "agency_id": agency_id,
        "name": name,
        "country": country,
        "public_key": raw,
        "key_id": _key_id(raw),
        "registered_at": now,
        "signing_key": b"",  # receipt keys are registered with `intelshare agencies register`
    }


class _Spec(NamedTuple):
    fields: tuple[str, ...]
    """Accepted fields besides ``type``; the first is the id and message key."""
    topic: str
    schema_name: str
    build: Callable[[_Checker, Mapping[str, Any], datetime], dict[str, Any]]


_SPECS = {
    "facility": _Spec(
        ("facility_id", "country", "name", "security_level"),
        "intel.ref.facilities",
        "intelshare.Facility",
        _facility,
    ),
    "subject": _Spec(
        ("subject_id", "risk_level", "rftf", "violent_extremist"),
        "intel.ref.subjects",
        "intelshare.Subject",
        _subject,
    ),
    "agency": _Spec(
        ("agency_id", "name", "country", "public_key"),
        "intel.ref.agencies",
        "intelshare.Agency",
        _agency,
    ),
}
