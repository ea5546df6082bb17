"""The MISP form of a disclosure (``consume --format misp``): one event that pymisp loads,
with the distribution and tags its TLP and grading call for, and nothing undisclosed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymisp import MISPEvent

from streams.core.report import Tlp
from streams.formats.misp import DISTRIBUTION, TAXONOMY_FILE, event_text, grading_tags
from streams.formats.stix import disclosure_tlp
from tests.factories import incident, observation
from tests.unit.disclosures import demo_disclosures, everything, generated_set, opened

GENERATED = generated_set() + demo_disclosures(60)


def load(disclosure: dict[str, Any]) -> MISPEvent:
    event = MISPEvent()
    event.load(event_text(disclosure))
    return event


def relations(event: MISPEvent, name: str) -> dict[str, list[Any]]:
    (obj,) = [o for o in event.objects if o.name == name]
    found: dict[str, list[Any]] = {}
    for attribute in obj.attributes:
        found.setdefault(attribute.object_relation, []).append(attribute.value)
    return found


@pytest.mark.parametrize("disclosure", GENERATED, ids=[f"n{i}" for i in range(len(GENERATED))])
def test_every_export_loads_with_its_distribution_and_tlp_tag(disclosure: dict[str, Any]) -> None:
    """pymisp loads each event (the generated set and the demo's disclosures); distribution
    and tlp: tag follow the (marked) TLP."""
    event = load(disclosure)
    tlp = disclosure_tlp(disclosure["payload"])
    assert event.uuid == disclosure["disclosure_id"]
    assert int(event.distribution) == DISTRIBUTION[tlp]
    assert f"tlp:{tlp.value.lower()}" in [t.name for t in event.tags]
    assert relations(event, "intelligence-report")["report-id"] == [disclosure["event_id"]]


@pytest.mark.parametrize(("tlp", "distribution"), [("CLEAR", 1), ("GREEN", 1), ("AMBER", 0)])
def test_distribution_never_leaves_the_agencys_community(tlp: str, distribution: int) -> None:
    """Even TLP:CLEAR is "this community only": personal data under an agreement."""
    assert int(load(opened(incident(tlp=tlp), everything())).distribution) == distribution
    assert max(DISTRIBUTION.values()) <= 1
    assert DISTRIBUTION[Tlp.AMBER_STRICT] == 0


def test_grading_tags_come_from_the_shipped_taxonomy() -> None:
    """Each 3x5x2 tag of an export is a predicate and value of machinetag.json."""
    taxonomy = json.loads(TAXONOMY_FILE.read_text(encoding="utf-8"))
    known = {
        f'{taxonomy["namespace"]}:{block["predicate"]}="{entry["value"]}"'
        for block in taxonomy["values"]
        for entry in block["entry"]
    }
    assert len(known) == 3 + 5 + 2
    report = observation()
    tags = [t.name for t in load(opened(report, everything())).tags]
    assert set(grading_tags(report["grading"])) <= set(tags) & known


def test_subjects_are_person_objects_under_their_pseudonym() -> None:
    """One person object per subject, its alias the pseudonym, its role the report's."""
    disclosure = opened(incident())
    pseudonym = disclosure["payload"]["subjects"][0]["subject_id"]
    person = relations(load(disclosure), "person")
    assert person["alias"] == [pseudonym]
    assert person["role"] == ["SUBJECT"]
    assert "TJ-P-004211" not in event_text(disclosure)


def test_conditions_travel_and_undisclosed_fields_are_absent() -> None:
    """Handling conditions are handling-instructions even when the grading is not disclosed;
    the unit, tlp and grading of the default agreement appear in no form."""
    disclosure = opened(observation(unit_id="TJ-PIU-SECRETUNIT"))
    event = load(disclosure)
    report = relations(event, "intelligence-report")
    assert report["handling-instructions"] == ["no onward sharing"]
    assert "reporting-unit" not in report
    assert "evaluation" not in report
    assert not [t for t in event.tags if t.name.startswith("3x5x2:")]
    assert "TJ-PIU-SECRETUNIT" not in event_text(disclosure)


def test_the_same_disclosure_gives_the_same_event() -> None:
    """Every uuid is derived from the disclosure id: MISP updates, never duplicates."""
    assert event_text(GENERATED[1]) == event_text(GENERATED[1])


@pytest.mark.parametrize("name", ["json", "stix21", "misp"])
def test_consume_prints_each_format_on_one_line_or_indented(name: str) -> None:
    """``consume --format``: one line per disclosure; ``--pretty`` indents the same JSON."""
    from streams.cli.agency import FORMATS

    line, pretty = FORMATS[name](GENERATED[0], False), FORMATS[name](GENERATED[0], True)
    assert "\n" not in line
    assert json.loads(line) == json.loads(pretty)
    assert "\n  " in pretty
