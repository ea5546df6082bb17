"""``submit --format stix21``: bundles in intelshare's STIX mapping back to reports. A round
trip keeps every disclosed field; what the mapping cannot carry is rejected by object id and
property."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.core.report import validate_report
from streams.errors import ReportInvalidError, StixMappingError
from streams.formats.stix import GRADING_EXTENSION, REPORT_EXTENSION, bundle_text
from streams.formats.stix_import import reports_from_bundle
from tests.factories import NOW, incident, observation
from tests.unit.disclosures import everything, opened


def exported(report: dict[str, Any]) -> dict[str, Any]:
    """The bundle an agency gets for ``report`` under an agreement that discloses it all."""
    bundle: dict[str, Any] = json.loads(bundle_text(opened(report, everything())))
    return bundle


def the_report(bundle: dict[str, Any]) -> dict[str, Any]:
    (report,) = [o for o in bundle["objects"] if o["type"] == "report"]
    return report


def problems(bundle: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(StixMappingError) as caught:
        reports_from_bundle(bundle)
    return {p.field: p.reason for p in caught.value.problems}


@pytest.mark.parametrize("report", [incident(), observation()], ids=["incident", "observation"])
def test_a_round_trip_keeps_every_disclosed_field(report: dict[str, Any]) -> None:
    """report -> exchange -> STIX -> submit: the report validates to the same record."""
    ((label, back),) = reports_from_bundle(exported(report))
    assert label.startswith("bundle report--")
    assert validate_report(back, now=NOW) == validate_report(report, now=NOW)


def test_a_bundle_without_the_units_fields_is_rejected_by_field() -> None:
    """A disclosure that did not carry unit_id maps, and validation names what is missing."""
    bundle = json.loads(bundle_text(opened(incident())))
    ((label, back),) = reports_from_bundle(bundle)
    with pytest.raises(ReportInvalidError) as caught:
        validate_report(back, now=NOW, label=label)
    fields = {p.field for p in caught.value.problems}
    assert {"unit_id", "grading", "reported_at"} <= fields
    assert back["tlp"] == "AMBER"  # the report's own label: it always travels
    assert the_report(bundle)["id"] in str(caught.value)


def test_an_unknown_property_is_named_with_its_object() -> None:
    """A property the mapping has no field for is refused as ``<object id> <property>``."""
    bundle = exported(incident())
    report = the_report(bundle)
    report["x_acme_score"] = 7
    assert f"{report['id']} x_acme_score" in problems(bundle)


def test_an_object_type_outside_the_mapping_is_named() -> None:
    """An object of a type the mapping does not use is refused, not dropped."""
    bundle = exported(incident())
    bundle["objects"].append({"type": "malware", "id": "malware--1", "name": "x"})
    assert "malware--1 type" in problems(bundle)


def test_a_tlp_1_0_marking_is_refused_with_what_to_use() -> None:
    """stix2's built-in TLP:AMBER (1.0) is not the TLP 2.0 one: refused, naming it."""
    bundle = exported(incident())
    amber1 = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
    bundle["objects"].append(
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": amber1,
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "name": "TLP:AMBER",
            "definition": {"tlp": "amber"},
        }
    )
    the_report(bundle)["object_marking_refs"] = [amber1]
    found = problems(bundle)
    assert "TLP 2.0" in found[f"{amber1} id"]
    assert f"{the_report(bundle)['id']} object_marking_refs" in found


def test_unknown_extension_fields_and_dangling_references_are_named() -> None:
    """Extension fields outside the definitions and references out of the bundle are named."""
    bundle = exported(observation())
    report = the_report(bundle)
    report["extensions"][GRADING_EXTENSION]["confidence"] = 80
    report["extensions"][REPORT_EXTENSION]["x"] = 1
    report["object_refs"].append("identity--00000000-0000-4000-8000-000000000000")
    found = problems(bundle)
    rid = report["id"]
    assert f"{rid} extensions.{GRADING_EXTENSION}.confidence" in found
    assert f"{rid} extensions.{REPORT_EXTENSION}.x" in found
    assert "is not in the bundle" in found[f"{rid} object_refs"]


def test_what_is_not_a_bundle_is_refused() -> None:
    """A lone object is not a bundle."""
    with pytest.raises(StixMappingError, match=r"not a STIX 2\.1 bundle"):
        reports_from_bundle({"type": "report"})


def test_submit_reads_bundles_one_per_line_and_keeps_the_bad_ones_apart() -> None:
    """``submit --format stix21`` on consume's output: each good bundle's report is a
    candidate; a bundle the mapping refuses is a rejection naming its line and object."""
    from streams.cli.unit import _from_bundles
    from streams.kafka.submit import read_reports

    good, bad = exported(incident()), exported(observation())
    the_report(bad)["x_acme_score"] = 7
    text = json.dumps(good) + "\n" + json.dumps(bad) + "\n"
    unmapped: list[ReportInvalidError] = []
    candidates = list(_from_bundles(read_reports(text, max_bytes=1 << 20), unmapped))
    assert [c.value["event_id"] for c in candidates] == [
        ref["external_id"]
        for ref in the_report(good)["external_references"]
        if ref["source_name"] == "intelshare-event"
    ]
    (rejected,) = unmapped
    assert rejected.label == "line 2"
    assert rejected.problems[0].field == f"{the_report(bad)['id']} x_acme_score"
