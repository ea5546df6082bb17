"""The STIX 2.1 form of a disclosure (``consume --format stix21``): valid STIX, TLP 2.0
markings, the grading extension, and nothing the agreement did not disclose."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_string

from streams.core.report import Tlp
from streams.formats.stix import (
    EXTENSIONS_FILE,
    GRADING_EXTENSION,
    REPORT_EXTENSION,
    TLP_EXTENSION,
    TLP_MARKING_IDS,
    UNDISCLOSED_TLP,
    bundle_text,
    report_id,
    shipped_definitions,
)
from tests.factories import incident, observation
from tests.unit.core import make_agreement
from tests.unit.disclosures import demo_disclosures, everything, generated_set, opened

GENERATED = generated_set()
DEMO = demo_disclosures(60)
OPTIONS = ValidationOptions(version="2.1")


def bundle(disclosure: dict[str, Any]) -> dict[str, Any]:
    return json.loads(bundle_text(disclosure))


def objects(disclosure: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle(disclosure)["objects"] if o["type"] == kind]


def the_report(disclosure: dict[str, Any]) -> dict[str, Any]:
    (report,) = objects(disclosure, "report")
    return report


@pytest.mark.parametrize("disclosure", GENERATED, ids=[f"n{i}" for i in range(len(GENERATED))])
def test_every_generated_disclosure_validates_without_errors_or_warnings(
    disclosure: dict[str, Any],
) -> None:
    """stix2-validator finds no error (and no warning) in any bundle of the generated set."""
    result = validate_string(bundle_text(disclosure), OPTIONS)
    assert result.is_valid, [str(e) for e in result.errors]
    assert not result.warnings, [str(w) for w in result.warnings]


@pytest.mark.parametrize("disclosure", DEMO, ids=lambda d: d["agreement_id"])
def test_every_disclosure_of_the_demo_validates_and_keeps_its_tlp_and_grading(
    disclosure: dict[str, Any],
) -> None:
    """The demo's disclosures (ops/demo's generator, agreements and seed; its first 60 reports):
    each validates with no error; its TLP marking is the TLP 2.0 one of the report's TLP; its
    grading extension equals the report's; a field outside the agreement's disclose is absent."""
    text = bundle_text(disclosure)
    result = validate_string(text, OPTIONS)
    assert result.is_valid, [str(e) for e in result.errors]
    payload, report = disclosure["payload"], the_report(disclosure)
    tlp = Tlp(payload["tlp"]) if "tlp" in payload else UNDISCLOSED_TLP
    assert report["object_marking_refs"][0] == TLP_MARKING_IDS[tlp]
    if "grading" in payload:
        grading = {k: v for k, v in payload["grading"].items() if v is not None}
        assert report["extensions"][GRADING_EXTENSION] == {
            "extension_type": "property-extension",
            **grading,
        }
    else:
        assert GRADING_EXTENSION not in report["extensions"]
    fields = report["extensions"][REPORT_EXTENSION]
    for field in ("severity", "facility_id", "facility_name", "country", "reported_at"):
        assert (field in fields) == (payload.get(field) is not None), field


def test_the_shipped_extension_definitions_validate() -> None:
    """schemas/stix/intelshare-extensions.json is valid STIX and defines both extensions."""
    text = EXTENSIONS_FILE.read_text(encoding="utf-8")
    assert validate_string(text, OPTIONS).is_valid
    ids = {o["id"] for o in json.loads(text)["objects"]}
    assert {GRADING_EXTENSION, REPORT_EXTENSION} <= ids


@pytest.mark.parametrize("tlp", ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT"])
def test_the_tlp_marking_is_the_tlp_2_0_one(tlp: str) -> None:
    """Every object is marked with the TLP 2.0 extension's marking definition for the
    report's TLP, never stix2's TLP 1.0 ones."""
    disclosure = opened(incident(tlp=tlp), everything())
    wanted = TLP_MARKING_IDS[Tlp(tlp)]
    (marking,) = [o for o in objects(disclosure, "marking-definition") if o["id"] == wanted]
    assert marking["name"] == f"TLP:{tlp}"
    assert marking["extensions"][TLP_EXTENSION]["tlp_2_0"] == tlp.lower()
    shipped = {o["id"] for o in shipped_definitions()}
    for obj in bundle(disclosure)["objects"]:
        if obj["type"] != "marking-definition" and obj["id"] not in shipped:
            assert wanted in obj["object_marking_refs"], obj["id"]


def test_the_tlp_travels_though_the_agreement_does_not_list_it() -> None:
    """The exchange always sends the report's TLP: the marking is the report's own."""
    disclosure = opened(incident(tlp="CLEAR"))  # the default agreement does not disclose tlp
    assert disclosure["payload"]["tlp"] == "CLEAR"
    assert the_report(disclosure)["object_marking_refs"][0] == TLP_MARKING_IDS["CLEAR"]


def test_a_disclosure_without_tlp_is_marked_amber_strict() -> None:
    """A disclosure made before the TLP always travelled still gets a TLP marking:
    AMBER+STRICT, the most restrictive an agreement may disclose, so the export is never
    looser than the report."""
    disclosure = opened(incident(tlp="CLEAR"))
    del disclosure["payload"]["tlp"]
    assert the_report(disclosure)["object_marking_refs"][0] == TLP_MARKING_IDS[UNDISCLOSED_TLP]


def test_the_grading_extension_equals_the_reports_grading() -> None:
    """The 3x5x2 grading travels as its property extension, as the report had it."""
    report = observation()
    extension = the_report(opened(report, everything()))["extensions"][GRADING_EXTENSION]
    assert extension == {"extension_type": "property-extension", **report["grading"]}


def test_handling_conditions_always_travel_as_a_statement_marking() -> None:
    """Handling C's conditions are a statement marking on every object, even when the
    agreement does not disclose the grading."""
    disclosure = opened(observation(), make_agreement(match={"handling": ["P", "C"]}))
    (statement,) = [
        o for o in objects(disclosure, "marking-definition") if o.get("definition_type")
    ]
    assert statement["definition"] == {"statement": "no onward sharing"}
    assert statement["id"] in the_report(disclosure)["object_marking_refs"]
    assert GRADING_EXTENSION not in the_report(disclosure)["extensions"]


def test_a_field_outside_disclose_is_absent() -> None:
    """The default agreement discloses neither unit_id, tlp, reported_at nor the grading: none
    of their values is anywhere in the bundle."""
    report = incident(unit_id="TJ-PIU-SECRETUNIT", reported_at="2026-11-20T16:41:59Z")
    text = bundle_text(opened(report))
    assert "TJ-PIU-SECRETUNIT" not in text
    assert "16:41:59" not in text
    assert "reporting-unit" not in text
    assert GRADING_EXTENSION not in text.replace(f'"id": "{GRADING_EXTENSION}"', "")


def test_pseudonyms_stay_pseudonyms() -> None:
    """A pseudonymised subject is an individual identity named by its pseudonym; the real id
    appears nowhere, not even in the narrative."""
    report = incident(narrative="TJ-P-004211 approached two younger prisoners.")
    disclosure = opened(report)
    pseudonym = disclosure["payload"]["subjects"][0]["subject_id"]
    text = bundle_text(disclosure)
    assert "TJ-P-004211" not in text
    (subject,) = [o for o in objects(disclosure, "identity") if o["identity_class"] == "individual"]
    assert subject["name"] == pseudonym
    assert subject["roles"] == ["subject"]


def test_the_report_carries_the_disclosure_envelope() -> None:
    """published is disclosed_at; disclosure, event and agreement ids are external refs."""
    disclosure = opened(incident(), everything())
    report = the_report(disclosure)
    assert report["id"] == report_id(disclosure["disclosure_id"])
    assert report["published"].startswith(disclosure["disclosed_at"].removesuffix("Z"))
    refs = {r["source_name"]: r for r in report["external_references"]}
    assert refs["intelshare-disclosure"]["external_id"] == disclosure["disclosure_id"]
    assert refs["intelshare-event"]["external_id"] == disclosure["event_id"]
    assert refs["intelshare-agreement"]["description"] == "version 3"


def test_an_incident_is_an_incident_and_an_observation_a_note_with_its_indicators() -> None:
    """kind incident gives an incident object; an observation's indicators ride a note."""
    assert objects(opened(incident(), everything()), "incident")
    report = observation()
    (note,) = objects(opened(report, everything()), "note")
    assert note["extensions"][REPORT_EXTENSION]["indicators"] == report["indicators"]


def test_correlated_reports_are_a_grouping_of_their_report_ids() -> None:
    """correlated_with becomes a grouping naming the STIX ids of the correlated reports."""
    other = incident()["event_id"]
    disclosure = opened(incident(), everything(), correlated=[other])
    (grouping,) = objects(disclosure, "grouping")
    assert len(grouping["object_refs"]) == 2
    assert grouping["external_references"][0]["external_id"] == other


def test_the_same_disclosure_gives_the_same_bundle() -> None:
    """Ids and times come from the disclosure, so a re-export is byte for byte the same."""
    assert bundle_text(GENERATED[1]) == bundle_text(GENERATED[1])
