"""One discipline for every JSON or YAML text the exchange reads (reports, reference data,
exports, proofs, agreements):

- well-formed, with line and column of a syntax error;
- no key twice in one object (``json`` keeps the last silently, so ``{"tlp": true, "tlp":
  "RED"}`` would pass as RED);
- at most :data:`MAX_DEPTH` levels deep;
- no number longer than :data:`MAX_DIGITS` characters (Python refuses an integer of 4,300
  digits with a ValueError), no ``NaN`` or ``Infinity``, which are not JSON;
- at most :data:`MAX_VALUES` values once YAML aliases are expanded (aliases are fine; nested
  ones that expand exponentially, a "billion laughs", are not).

Every problem is a :class:`~streams.errors.MalformedInputError` that says where and what.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from streams.core.fields import show
from streams.errors import MalformedInputError
from streams.i18n import msg

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "MAX_VALUES", "load_json", "load_yaml"]

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; a report needs four."""
MAX_DIGITS = 40
"""Longest number accepted, in characters."""
MAX_VALUES = 1_000_000
"""Most values (scalars, lists, objects) one input may hold."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedInputError(
                msg("key {key} appears twice in one object", key=show(key, 40))
            )
        obj[key] = value
    return obj


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > MAX_DIGITS:
            raise MalformedInputError(
                msg(
                    "a number of {count} characters, over the limit of {limit}",
                    count=len(text),
                    limit=MAX_DIGITS,
                )
            )
        number = kind(text)
        if not math.isfinite(number):
            raise MalformedInputError(msg("{value} is too large a number", value=show(text, 40)))
        return number

    return parse


def _constant(name: str) -> Any:
    raise MalformedInputError(msg("{name} is not a JSON number", name=name))


def _depth(value: Any) -> int:
    """Levels of nesting, counted without recursion; MalformedInputError past MAX_VALUES values
    (YAML aliases share one object, so a small text can stand for an enormous tree)."""
    deepest, stack, seen = 0, [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise MalformedInputError(
                msg("more than {limit} values (aliases expanded)", limit=MAX_VALUES)
            )
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep() -> MalformedInputError:
    return MalformedInputError(msg("nested more than {limit} levels deep", limit=MAX_DEPTH))


def _shallow(value: Any) -> Any:
    if _depth(value) > MAX_DEPTH:
        raise _too_deep()
    return value


def load_json(text: str) -> Any:
    """Parse ``text`` under the discipline above; MalformedInputError names the problem (with
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
        if "\n" in text:
            problem = msg(
                "not valid JSON: {error} at line {line} column {column}",
                error=exc.msg,
                line=exc.lineno,
                column=exc.colno,
            )
        else:
            problem = msg(
                "not valid JSON: {error} at column {column}", error=exc.msg, column=exc.colno
            )
        raise MalformedInputError(problem) from None
    except RecursionError:
        raise _too_deep() from None
    return _shallow(value)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader without a key twice in one mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise MalformedInputError(
                    msg("key {key} appears twice (line {line})", key=show(key, 40), line=line)
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML with the safe loader under the discipline above."""
    try:
        value = yaml.load(text, Loader=_StrictLoader)  # noqa: S506  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise MalformedInputError(msg("not valid YAML: {exc}", exc=exc)) from None
    except RecursionError:
        raise _too_deep() from None
    return _shallow(value)
