"""Report validation: every rejection names the field and the reason; nothing is truncated."""

from __future__ import annotations

from typing import Any

import pytest

from streams.core.report import MAX_LIST_ITEMS, validate_report
from streams.errors import ReportInvalidError
from tests.factories import NOW, incident, observation


def problems(report: Any) -> dict[str, str]:
    with pytest.raises(ReportInvalidError) as caught:
        validate_report(report, now=NOW)
    return {p.field: p.reason for p in caught.value.problems}


def test_valid_reports_pass() -> None:
    """The design's example incident and an observation with indicators are accepted."""
    assert validate_report(incident(), now=NOW)["kind"] == "incident"
    assert validate_report(observation(), now=NOW)["tlp"] == "AMBER_STRICT"


def test_bad_tlp_is_named() -> None:
    """A TLP outside FIRST TLP 2.0 is rejected with the allowed labels."""
    assert "AMBER+STRICT" in problems(incident(tlp="PURPLE"))["tlp"]


def test_missing_facility_is_named() -> None:
    """A report without facility_id is rejected naming facility_id."""
    report = incident()
    del report["facility_id"]
    assert problems(report) == {"facility_id": "is required"}


def test_one_mebibyte_narrative_is_rejected_not_truncated() -> None:
    """An oversized narrative is rejected naming narrative and its size."""
    assert "1048576 bytes" in problems(incident(narrative="x" * 1024 * 1024))["narrative"]


def test_all_problems_are_reported_at_once() -> None:
    """Several faults give several named problems, not just the first."""
    found = problems(incident(tlp="RED-ISH", kind="rumour", grading={"source": 9}))
    assert {"tlp", "kind", "grading.source", "grading.assessment", "grading.handling"} <= set(found)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_id": 42}, "event_id"),
        ({"unit_id": "TJ PIU/../etc"}, "unit_id"),
        ({"facility_id": ""}, "facility_id"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-20T14:05:00"}, "occurred_at"),
        ({"occurred_at": "2026-11-21T14:05:00Z"}, "occurred_at"),
        (
            {"reported_at": "2027-01-01T00:00:00Z", "occurred_at": "2026-12-31T00:00:00Z"},
            "reported_at",
        ),
        ({"grading": "A1"}, "grading"),
        ({"grading": {"source": True, "assessment": "A", "handling": "P"}}, "grading.source"),
        ({"grading": {"source": 1, "assessment": "F", "handling": "P"}}, "grading.assessment"),
        ({"grading": {"source": 1, "assessment": "A", "handling": "C"}}, "grading.conditions"),
        (
            {"grading": {"source": 1, "assessment": "A", "handling": "P", "conditions": "x"}},
            "grading.conditions",
        ),
        ({"category": "GOSSIP"}, "category"),
        ({"category": ""}, "category"),
        ({"severity": None}, "severity"),
        ({"severity": "APOCALYPTIC"}, "severity"),
        ({"subjects": "TJ-P-1"}, "subjects"),
        ({"subjects": [{"subject_id": "TJ-P-1", "role": "KING"}]}, "subjects[0].role"),
        ({"subjects": [{"subject_id": "TJ-P-1"}, {"subject_id": "TJ-P-1"}]}, "subjects[1]"),
        ({"subjects": [{"subject_id": "x"}] * (MAX_LIST_ITEMS + 1)}, "subjects"),
        ({"subjects": [["nested", ["lists"]]]}, "subjects[0]"),
        ({"narrative": ""}, "narrative"),
        ({"narrative": {"$gt": ""}}, "narrative"),
        ({"narrative": "bad \ud800 surrogate"}, "narrative"),
        ({"password": "hunter2"}, "'password'"),
    ],
)
def test_each_fault_names_its_field(overrides: dict[str, Any], field: str) -> None:
    """Malformed and hostile values are rejected naming the field at fault."""
    assert field in problems(incident(**overrides))


def test_observation_needs_indicators() -> None:
    """An observation carries indicators; one without any is rejected."""
    assert "indicators" in problems(observation(indicators=[]))


def test_observation_may_omit_severity() -> None:
    """Severity is optional for an observation."""
    assert validate_report(observation(severity=None), now=NOW)["severity"] is None


@pytest.mark.parametrize("value", [None, [], "report", 7, [incident()]])
def test_non_object_is_rejected(value: Any) -> None:
    """Anything but a JSON object is rejected as a whole."""
    assert "report" in problems(value)


def test_event_id_is_normalised_to_lower_case() -> None:
    """The same UUID in upper case is the same idempotency key."""
    report = incident(event_id="0B9F2A8E-6C1D-4E7A-9F3B-2D5C8A1E4F60")
    assert validate_report(report, now=NOW)["event_id"] == "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60"


def test_offset_times_are_kept_as_instants() -> None:
    """A time with a non-UTC offset is the same instant in UTC."""
    record = validate_report(incident(occurred_at="2026-11-20T19:05:00+05:00"), now=NOW)
    assert record["occurred_at"].isoformat() == "2026-11-20T19:05:00+05:00"
    assert record["occurred_at"].utcoffset().total_seconds() == 5 * 3600


def test_a_near_miss_field_name_gets_a_suggestion() -> None:
    """A misspelt field is refused (never dropped) with the field it probably meant."""
    report = incident()
    report["narative"] = report.pop("narrative")
    found = problems(report)
    assert found["'narative'"] == "is not a field of the report; did you mean narrative?"
    assert found["narrative"] == "is required"
    report = incident(backdoor=1)
    assert problems(report)["'backdoor'"] == "is not a field of the report; remove it"


@pytest.mark.parametrize(
    "written",
    [
        "\uff10b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60",  # a full-width digit
        "\u0660b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60",  # an Arabic-Indic digit
        "{0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60}",
        "urn:uuid:0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60",
        "0b9f2a8e6c1d4e7a9f3b2d5c8a1e4f60",
        " 0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60",
        "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60\n",
        "0b9f2a8e_6c1d-4e7a-9f3b-2d5c8a1e4f60",
        "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f6",
        "",
    ],
)
def test_an_event_id_not_in_its_canonical_form_is_refused_not_rewritten(written: str) -> None:
    """Only the hyphenated ASCII-hex form is an event id: uuid.UUID would read each of these
    (or another UUID), and the exchange would key the report by an id the unit never wrote."""
    with pytest.raises(ReportInvalidError) as refused:
        validate_report(incident(event_id=written), now=NOW)
    assert "event_id" in str(refused.value)
    assert "8-4-4-4-12 hexadecimal digits" in str(refused.value)
