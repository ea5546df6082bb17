"""The one field checker: id patterns, JSON types, text, times and choices, checked alike for
reports, agreements and reference data.

A :class:`Checker` collects every problem of one input while its reader methods return a safe
value, so a user sees all that is wrong at once; the caller raises its own error (a report's,
an agreement's, a reference line's) with ``checker.problems``. Pure: no clock, no I/O.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from streams.core.times import parse_time
from streams.errors import FieldProblem
from streams.i18n import Message, msg

__all__ = [
    "AGENCY_ID",
    "COUNTRY",
    "IDENTIFIER",
    "Checker",
    "clean_text",
    "json_type",
    "show",
]

EVENT_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
"""An event id as a unit writes it: a hyphenated UUID in ASCII hex digits, nothing around it
(no braces, no ``urn:uuid:``, no other digits that ``uuid.UUID`` would read)."""
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Ids of events' units, facilities, subjects and agreements."""
AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
"""Agency ids (and SCRAM user names): they name a feed topic and key files."""
COUNTRY = re.compile(r"[A-Z]{2}")
"""ISO 3166-1 alpha-2 country codes."""

IDENTIFIER_RULE = msg("1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
AGENCY_RULE = msg("1-63 lower-case letters, digits or '-', starting with a letter or digit")

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; Cs is U+D800-U+DFFF.
_LINE_BAD = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_BIDI_CONTROLS}]")
_MULTILINE_BAD = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_BIDI_CONTROLS}]")
_E = TypeVar("_E", bound=enum.StrEnum)


def show(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: object) -> str:
    """How a JSON user would name the type of ``value``."""
    names = {bool: msg("a boolean"), int: msg("a number"), float: msg("a number")}
    if value is None:
        return "null"
    if isinstance(value, list):
        return msg("a list")
    if isinstance(value, dict):
        return msg("an object")
    if isinstance(value, str):
        return msg("a string")
    return names.get(type(value), type(value).__name__)


def clean_text(value: str, *, multiline: bool = False) -> bool:
    """No control characters (but newlines and tabs where ``multiline``), no lone surrogates,
    no bidirectional overrides."""
    return first_unclean(value, multiline=multiline) is None


def first_unclean(value: str, *, multiline: bool = False) -> int | None:
    """The index (in characters, not bytes) of the first character :func:`clean_text` refuses,
    or None: what a rejection points at, whatever the script of the text around it."""
    found = (_MULTILINE_BAD if multiline else _LINE_BAD).search(value)
    return None if found is None else found.start()


class Checker:
    """Collects every problem of one input; each reader returns a safe value and records why."""

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def __bool__(self) -> bool:
        return bool(self.problems)

    def fail(self, field: str, reason: str) -> None:
        """Record one problem."""
        self.problems.append(FieldProblem(field, reason))

    def required(self, obj: Mapping[str, Any], key: str, path: str | None = None) -> Any:
        """``obj[key]``, or None with "is required" when absent or null."""
        value = obj.get(key)
        if value is None:
            self.fail(path or key, msg("is required"))
        return value

    def unknown(
        self, obj: Mapping[Any, Any], known: tuple[str, ...], prefix: str, what: str
    ) -> None:
        """Every key of ``obj`` not in ``known`` is a problem: unknown fields are refused, not
        dropped."""
        for key in obj:
            if key not in known:
                near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
                field = f"{prefix}{show(key, 40)}"
                if near:
                    reason = msg(
                        "is not a field of {what}; did you mean {near}?", what=what, near=near[0]
                    )
                else:
                    reason = msg("is not a field of {what}; remove it", what=what)
                self.fail(field, reason)

    def string(self, value: Any, path: str) -> str | None:
        """``value`` when it is a string; else a problem naming its JSON type."""
        if isinstance(value, str):
            return value
        self.fail(path, msg("must be a string, not {type}", type=json_type(value)))
        return None

    def pattern(self, value: Any, path: str, regex: re.Pattern[str], rule: Message) -> str | None:
        """A string that matches ``regex`` in full; ``rule`` says in words what is allowed."""
        if value is None:
            self.fail(path, msg("is required"))
            return None
        text = self.string(value, path)
        if text is not None and not regex.fullmatch(text):
            self.fail(path, msg("{value} is not {rule}", value=show(text, 40), rule=rule))
            return None
        return text

    def identifier(self, value: Any, path: str) -> str | None:
        """An id of a unit, facility, subject or agreement."""
        return self.pattern(value, path, IDENTIFIER, IDENTIFIER_RULE)

    def agency_id(self, value: Any, path: str) -> str | None:
        """An agency id, as a feed topic and key file names accept it."""
        return self.pattern(value, path, AGENCY_ID, AGENCY_RULE)

    def country(self, value: Any, path: str) -> str | None:
        """An assigned ISO 3166-1 alpha-2 code (pycountry's list)."""
        code = self.pattern(
            value,
            path,
            COUNTRY,
            msg("an ISO 3166-1 alpha-2 code (two upper-case letters, e.g. KZ)"),
        )
        import pycountry  # 60 ms to load: only where a country is checked

        if code is not None and pycountry.countries.get(alpha_2=code) is None:
            self.fail(
                path,
                msg("{code} is not an assigned ISO 3166-1 alpha-2 code (e.g. KZ, IQ)", code=code),
            )
            return None
        return code

    def text(
        self,
        value: Any,
        path: str,
        limit: int,
        *,
        unit: str = "characters",
        multiline: bool = False,
        allow_empty: bool = False,
    ) -> str | None:
        """Free text of at most ``limit`` characters (or UTF-8 ``bytes``), never truncated."""
        text = self.string(value, path)
        if text is None:
            return None
        size = len(text.encode("utf-8", "surrogatepass")) if unit == "bytes" else len(text)
        if size > limit:
            if unit == "bytes":
                reason = msg(
                    "is {size} bytes, over the limit of {limit}; shorten it",
                    size=size,
                    limit=limit,
                )
            else:
                reason = msg(
                    "is {size} characters, over the limit of {limit}; shorten it",
                    size=size,
                    limit=limit,
                )
            self.fail(path, reason)
        elif not text.strip() and not allow_empty:
            self.fail(path, msg("must not be empty"))
        elif (bad := first_unclean(text, multiline=multiline)) is not None:
            self.fail(
                path,
                msg(
                    "holds a control character or invalid Unicode ({code}) at character "
                    "{position}; remove it",
                    code=f"U+{ord(text[bad]):04X}",
                    position=bad + 1,
                ),
            )
        else:
            return text
        return None

    def choice(self, value: Any, allowed: type[_E], path: str) -> _E | None:
        """One member of the enum ``allowed``, by value."""
        try:
            return allowed(value)
        except (ValueError, TypeError):
            names = ", ".join(m.value for m in allowed)
            self.fail(
                path, msg("{value} is not one of {allowed}", value=show(value), allowed=names)
            )
            return None

    def one_of(self, value: Any, allowed: tuple[str, ...], path: str) -> str | None:
        """One of the strings ``allowed``."""
        text = self.string(value, path) if value is not None else None
        if value is None:
            self.fail(path, msg("is required"))
        elif text is not None and text not in allowed:
            self.fail(
                path,
                msg(
                    "{value} is not one of {allowed}",
                    value=show(text, 40),
                    allowed=", ".join(allowed),
                ),
            )
            return None
        return text

    def flag(self, value: Any, path: str) -> bool:
        """true or false, with no default."""
        if value is None:
            self.fail(path, msg("is required: true or false"))
        elif not isinstance(value, bool):
            self.fail(path, msg("must be true or false, not {type}", type=json_type(value)))
        else:
            return value
        return False

    def timestamp(self, value: Any, path: str) -> datetime | None:
        """An ISO 8601 time with a zone, from 1970 (a YAML loader may give a datetime)."""
        problem, moment = parse_time(value)
        if problem is not None:
            self.fail(path, problem)
        return moment

    def items(self, value: Any, path: str, limit: int) -> list[Any]:
        """A list of at most ``limit`` items (None is the empty list)."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, msg("must be a list, not {type}", type=json_type(value)))
            return []
        if len(value) > limit:
            self.fail(
                path,
                msg("has {count} items, over the limit of {limit}", count=len(value), limit=limit),
            )
            return []
        return value
