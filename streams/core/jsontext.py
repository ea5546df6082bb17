"""One discipline for every JSON text the exchange reads (reports, reference data, exports,
proofs): well-formed, no key twice in one object (``json`` would keep the last silently, so
``{"tlp": true, "tlp": "RED"}`` would pass as RED), at most :data:`MAX_DEPTH` levels deep, no
number longer than :data:`MAX_DIGITS` characters (Python refuses to read an integer of 4,300
digits with a ValueError), and no ``NaN`` or ``Infinity``, which are not JSON. Every problem is a
:class:`~streams.errors.MalformedJsonError` whose message says where it is and what is wrong.
"""

from __future__ import annotations

import json
import math
from typing import Any

from streams.core.fields import show
from streams.errors import MalformedJsonError

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "load_json"]

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; a report needs four."""
MAX_DIGITS = 40
"""Longest number accepted, in characters."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedJsonError(f"key {show(key, 40)} appears twice in one object")
        obj[key] = value
    return obj


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > MAX_DIGITS:
            raise MalformedJsonError(
                f"a number of {len(text)} characters, over the limit of {MAX_DIGITS}"
            )
        number = kind(text)
        if not math.isfinite(number):
            raise MalformedJsonError(f"{show(text, 40)} is too large a number")
        return number

    return parse


def _constant(name: str) -> Any:
    raise MalformedJsonError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """Levels of nesting, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(text: str) -> Any:
    """Parse ``text`` under the discipline above; MalformedJsonError names the problem (with
    line and column for a syntax error)."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if "\n" in text else f"column {exc.colno}"
        raise MalformedJsonError(f"not valid JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise MalformedJsonError(f"nested more than {MAX_DEPTH} levels deep") from None
    if _depth(value) > MAX_DEPTH:
        raise MalformedJsonError(f"nested more than {MAX_DEPTH} levels deep")
    return value
