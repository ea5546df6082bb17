"""The Avro contract: every released schema parses, and each version is compatible both ways."""

from __future__ import annotations

import copy
import enum
import itertools
import json
from pathlib import Path

import pytest

from streams.core.report import Assessment, Category, Handling, Kind, Severity, SubjectRole, Tlp
from streams.core.schemas import SchemaSet, compatibility_problems, load_schema
from streams.errors import SchemaError
from streams.settings import PROJECT_ROOT

SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")


def test_the_contract_has_every_record() -> None:
    """schemas/ holds the report, agreement, disclosure, audit record and dead letter."""
    assert set(SCHEMAS.names()) >= {
        "intelshare.Report",
        "intelshare.Agreement",
        "intelshare.Disclosure",
        "intelshare.AuditRecord",
        "intelshare.DeadLetter",
    }


@pytest.mark.parametrize("name", SCHEMAS.names())
def test_every_version_is_backward_and_forward_compatible_with_the_one_before(name: str) -> None:
    """A schema change that breaks BACKWARD or FORWARD compatibility fails here."""
    versions = SCHEMAS.versions(name)
    for old, new in itertools.pairwise(versions):
        assert compatibility_problems(old, new) == []


def _with_next_report(tmp_path: Path, change: object) -> list[str]:
    old = SCHEMAS.latest("intelshare.Report")
    raw = copy.deepcopy(dict(old.raw))
    change(raw)  # type: ignore[operator]
    path = tmp_path / f"report.v{old.version + 1}.avsc"
    path.write_text(json.dumps(raw))
    return compatibility_problems(old, load_schema(path))


def test_removing_a_required_field_breaks_forward(tmp_path: Path) -> None:
    """Dropping a field without a default is caught: old readers could not read new records."""
    found = _with_next_report(
        tmp_path,
        lambda raw: raw["fields"].remove(
            next(f for f in raw["fields"] if f["name"] == "narrative")
        ),
    )
    assert any(p.startswith("FORWARD") for p in found)


def test_adding_a_required_field_breaks_backward(tmp_path: Path) -> None:
    """Adding a field without a default is caught: new readers could not read old records."""
    found = _with_next_report(
        tmp_path, lambda raw: raw["fields"].append({"name": "extra", "type": "string"})
    )
    assert any(p.startswith("BACKWARD") for p in found)


def test_adding_a_field_with_default_is_compatible(tmp_path: Path) -> None:
    """The allowed kind of change passes both checks."""
    found = _with_next_report(
        tmp_path,
        lambda raw: raw["fields"].append({"name": "extra", "type": "string", "default": ""}),
    )
    assert found == []


def _symbols(schema: object, name: str) -> list[str]:
    text = json.dumps(schema)
    for node in _walk(json.loads(text)):
        if node.get("type") == "enum" and node.get("name") == name:
            return list(node["symbols"])
    raise AssertionError(f"no enum {name}")


def _walk(node: object) -> list[dict[str, object]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


@pytest.mark.parametrize(
    ("avro_name", "python_enum"),
    [
        ("Kind", Kind),
        ("Tlp", Tlp),
        ("Assessment", Assessment),
        ("Handling", Handling),
        ("Category", Category),
        ("Severity", Severity),
        ("SubjectRole", SubjectRole),
    ],
)
def test_python_enums_match_the_schema(avro_name: str, python_enum: type[enum.Enum]) -> None:
    """The domain enums and the Avro enums hold the same symbols, so validation matches the wire."""
    raw = SCHEMAS.latest("intelshare.Report").raw
    expected = [str(m.value).replace("+", "_") for m in python_enum]
    assert _symbols(raw, avro_name) == expected


def test_misnamed_schema_file_is_refused(tmp_path: Path) -> None:
    """A file not named <name>.v<N>.avsc is a SchemaError naming the rule."""
    path = tmp_path / "report.avsc"
    path.write_text('"null"')
    with pytest.raises(SchemaError, match=r"v<N>"):
        load_schema(path)


def test_gap_in_versions_is_refused(tmp_path: Path) -> None:
    """v1 then v3 with no v2 is refused: a released version went missing."""
    raw = dict(SCHEMAS.latest("intelshare.DeadLetter").raw)
    (tmp_path / "dead_letter.v1.avsc").write_text(json.dumps(raw))
    raw["fields"] = [*raw["fields"], {"name": "x", "type": "int", "default": 0}]
    (tmp_path / "dead_letter.v3.avsc").write_text(json.dumps(raw))
    with pytest.raises(SchemaError, match="without gaps"):
        SchemaSet.from_directory(tmp_path)


def test_broken_json_is_a_schema_error(tmp_path: Path) -> None:
    """A schema file that is not JSON names the file."""
    path = tmp_path / "report.v1.avsc"
    path.write_text("{not json")
    with pytest.raises(SchemaError, match=r"report\.v1\.avsc"):
        load_schema(path)
