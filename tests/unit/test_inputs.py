"""The input discipline every JSON and YAML reader shares (streams/core/inputs.py)."""

from __future__ import annotations

import pytest

from streams.core.inputs import MAX_DEPTH, load_json, load_yaml
from streams.errors import MalformedInputError


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": 1, "b": {"c": 2, "c": 3}}', "key 'c' appears twice in one object"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than 32 levels deep"),
        ("[" * 100_000, "nested more than 32 levels deep"),
        ("9" * 41, "a number of 41 characters"),
        ("-1e999", "'-1e999' is too large a number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ('{\n  "a": 1,,\n}', "not valid JSON: Expecting property name enclosed in double quotes "
         "at line 2 column 10"),
        ("", "not valid JSON: Expecting value at column 1"),
    ],
)  # fmt: skip
def test_json_problems_are_named(text: str, problem: str) -> None:
    """Each breach of the discipline is one MalformedInputError saying what and where."""
    with pytest.raises(MalformedInputError) as caught:
        load_json(text)
    assert problem in str(caught.value)


def test_json_within_the_limits_reads_as_json_does() -> None:
    """32 levels, 40-digit numbers and unique keys read exactly as json.loads reads them."""
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_json(deep) is not None
    assert load_json('{"n": ' + "9" * 40 + ', "f": 1.5}') == {"n": int("9" * 40), "f": 1.5}


_LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- id: A\n  version: 1\n  version: 2\n", "key 'version' appears twice (line 3)"),
        (_LAUGHS, "more than 1000000 values (aliases expanded)"),
        ("a: " + "[" * 40 + "]" * 40, "nested more than 32 levels deep"),
        ("a: b: c", "not valid YAML"),
    ],
)
def test_yaml_problems_are_named(text: str, problem: str) -> None:
    """Duplicate keys, aliases that expand past the limit (a billion laughs), depth, syntax."""
    with pytest.raises(MalformedInputError) as caught:
        load_yaml(text)
    assert problem in str(caught.value)


def test_plain_yaml_reads_as_the_safe_loader_does() -> None:
    """An agreement list with dates and a shared list (an alias, as yaml.safe_dump writes one)
    reads as yaml.safe_load reads it."""
    shared = load_yaml("- disclose: &d [kind, narrative]\n- disclose: *d\n")
    assert shared == [{"disclose": ["kind", "narrative"]}] * 2
    loaded = load_yaml("- id: A\n  valid_from: 2026-01-01T00:00:00Z\n  disclose: [kind]\n")
    assert loaded[0]["id"] == "A"
    assert loaded[0]["disclose"] == ["kind"]
    assert loaded[0]["valid_from"].year == 2026
