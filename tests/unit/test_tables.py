"""The command line's tables: aligned columns, one line per row whatever a cell holds, and the
rows of ``agencies list`` and ``audit query`` taken from their records."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pytest

from streams.cli.tables import (
    AGENCY_COLUMNS,
    DISCLOSURE_COLUMNS,
    agency_json,
    agency_row,
    cell,
    disclosure_row,
    table,
)
from streams.core.crypto import key_id
from streams.settings import PROJECT_ROOT
from tests.factories import AGENCY_KEY, NOW, agency_record

KEY = AGENCY_KEY


def test_columns_are_aligned_two_spaces_apart_without_trailing_spaces() -> None:
    """Each column starts at the same place on every line; no line ends in a space."""
    lines = table(("A", "LONGER", "C"), [("wide value", 1, None), ("x", 22222, "last")])
    assert lines == [
        "A           LONGER  C",
        "wide value  1       -",
        "x           22222   last",
    ]


def test_a_table_of_no_rows_is_its_header() -> None:
    """The header alone, so a caller can decide to print nothing instead."""
    assert table(("A", "B"), []) == ["A  B"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        ("", "-"),
        (0, "0"),
        ("plain text", "plain text"),
        ("Комитет", "Комитет"),
        ("line\nbreak", "line\\nbreak"),
        ("tab\there", "tab\\there"),
        ("esc\x1b[31m", "esc\\x1b[31m"),
        ("a\u202eb", "a\\u202eb"),
    ],
)
def test_a_cell_is_one_line_and_hides_nothing(value: object, shown: str) -> None:
    """Empty is '-'; clean text (any script) is kept; control characters and bidirectional
    overrides are shown escaped, so a hostile value cannot break or disguise a line."""
    assert cell(value) == shown


def test_a_hostile_cell_cannot_add_a_line() -> None:
    """Two rows give three lines, whatever the cells hold."""
    assert len(table(("NAME",), [("one\nFAKE ROW",), ("two\r",)])) == 3


def agency(**overrides: Any) -> dict[str, Any]:
    return agency_record(**({"signing_key": KEY} | overrides))


def test_agency_row_has_every_column() -> None:
    """Id, name, country, key id, whether it sends receipts, when registered."""
    row = agency_row(agency())
    assert len(row) == len(AGENCY_COLUMNS)
    assert row == (
        "kz-knb",
        "National Security Committee",
        "KZ",
        key_id(KEY),
        "yes",
        "2026-11-26T12:00:00Z",
    )
    international = agency_row(agency(country=None, signing_key=b""))
    assert (international[2], international[4]) == (None, "no")


def test_agency_json_gives_keys_in_base64_and_times_in_iso() -> None:
    """The keys as reference data spells them; no receipt key is null."""
    assert agency_json(agency()) == {
        "agency_id": "kz-knb",
        "name": "National Security Committee",
        "country": "KZ",
        "key_id": key_id(KEY),
        "public_key": base64.b64encode(KEY).decode(),
        "signing_key": base64.b64encode(KEY).decode(),
        "registered_at": "2026-11-26T12:00:00Z",
    }
    assert agency_json(agency(signing_key=b""))["signing_key"] is None


def audit_record(**overrides: Any) -> dict[str, Any]:
    base = {
        "sequence": 41,
        "disclosure_id": "d-1",
        "event_id": "3f6c1d2e-0000-4000-8000-000000000001",
        "agreement_id": "KZ-KNB-2026-01",
        "agreement_version": 3,
        "recipient": "kz-knb",
        "subjects": ["ps-abc", "KZ-P-000101"],
        "disclosed_at": NOW,
        "hash": b"\x01" * 32,
        "signature": b"\x02" * 64,
    }
    return base | overrides


def test_disclosure_row_has_every_column_and_no_hash() -> None:
    """Sequence, time, agreement and version, recipient, event, subjects as recorded, when
    received; neither hash nor signature."""
    row = disclosure_row(audit_record(), NOW + timedelta(minutes=5))
    assert len(row) == len(DISCLOSURE_COLUMNS)
    assert row == (
        41,
        "2026-11-26T12:00:00Z",
        "KZ-KNB-2026-01 v3",
        "kz-knb",
        "3f6c1d2e-0000-4000-8000-000000000001",
        "ps-abc,KZ-P-000101",
        "2026-11-26T12:05:00Z",
    )
    unopened = table(DISCLOSURE_COLUMNS, [disclosure_row(audit_record(subjects=[]), None)])
    assert unopened[1].split()[-2:] == ["-", "-"]


@pytest.mark.parametrize("columns", [AGENCY_COLUMNS, DISCLOSURE_COLUMNS])
def test_the_readme_shows_each_table_as_printed(columns: tuple[str, ...]) -> None:
    """The README's sample of each table has today's header, and its rows the same columns,
    aligned as :func:`table` aligns them."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    header = " ".join(columns).split()
    block = next(
        b
        for b in re.findall(r"```text\n(.*?)```", readme, flags=re.S)
        if b.split()[: len(header)] == header
    )
    lines = block.splitlines()
    starts = [lines[0].index(name) for name in columns]
    rows = [
        [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        for line in lines[1:]
    ]
    assert table(columns, rows) == lines
