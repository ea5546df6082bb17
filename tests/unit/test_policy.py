"""The routing policy: a case that routes and one that does not for every rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from streams.errors import AgreementInvalidError
from streams.policy import (
    agreement_from_record,
    agreement_to_record,
    decide,
    parse_agreement,
    route,
)
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement

GRADED = {"source": 2, "assessment": "B", "handling": "P", "conditions": None}


@pytest.mark.parametrize(
    ("match", "passes", "fails", "rule"),
    [
        ({"countries": ["KZ"]}, {}, {"country": "KG"}, "country"),
        ({"facilities": ["TJ-F-001"]}, {}, {"facility_id": "TJ-F-002"}, "facility"),
        (
            {"kinds": ["incident"]},
            {},
            {"kind": "observation", "severity": None, "indicators": [{"code": "x"}]},
            "kind",
        ),
        ({"categories": ["RECRUITMENT"]}, {}, {"category": "VIOLENCE"}, "category"),
        ({"max_tlp": "GREEN"}, {"tlp": "GREEN"}, {"tlp": "AMBER"}, "tlp above max_tlp"),
        (
            {"max_tlp": "AMBER+STRICT"},
            {"tlp": "AMBER+STRICT"},
            {"tlp": "RED"},
            "RED is never disclosed",
        ),
        ({"sources": [1]}, {"grading": GRADED | {"source": 1}}, {"grading": GRADED}, "source"),
        ({"assessments": ["A", "B"]}, {}, {"grading": GRADED | {"assessment": "C"}}, "assessment"),
        (
            {"handling": ["P", "C"]},
            {"grading": GRADED | {"handling": "C", "conditions": "x"}},
            {
                "grading": GRADED | {"handling": "C", "conditions": "x"},
                "__match": {"handling": ["P"]},
            },
            "handling",
        ),
    ],
)
def test_each_rule_routes_and_refuses(
    match: dict[str, Any], passes: dict[str, Any], fails: dict[str, Any], rule: str
) -> None:
    """The report that meets the rule is disclosed; the one that fails it is not, naming it."""
    fails = dict(fails)
    country = fails.pop("country", "KZ")
    fail_match = fails.pop("__match", match)
    assert decide(make_agreement(match=match), enriched(**passes), NOW).disclose
    decision = decide(make_agreement(match=fail_match), enriched(country, **fails), NOW)
    assert not decision.disclose
    assert decision.reason == rule


def test_validity_window() -> None:
    """Nothing is disclosed before valid_from or from valid_until on."""
    agreement = make_agreement(valid_from=NOW)
    assert decide(agreement, enriched(), NOW).disclose
    assert decide(agreement, enriched(), NOW - timedelta(seconds=1)).reason == "not yet valid"
    assert decide(agreement, enriched(), agreement.valid_until).reason == "expired"


def test_revoked_discloses_nothing() -> None:
    """A revoked agreement discloses nothing."""
    assert decide(make_agreement(revoked=True), enriched(), NOW).reason == "revoked"


def test_duplicate_is_not_disclosed_again() -> None:
    """A report marked duplicate_of an earlier one is not disclosed."""
    report = enriched()
    report["enrichment"]["duplicate_of"] = "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60"
    assert decide(make_agreement(), report, NOW).reason == "duplicate"


def test_no_agreement_no_disclosure() -> None:
    """With no agreements nothing routes; route returns exactly the matching ones."""
    assert route([], enriched(), NOW) == []
    kz, kg = (
        make_agreement(match={"countries": ["KZ"]}),
        make_agreement(id="KG-1", match={"countries": ["KG"]}),
    )
    assert route([kz, kg], enriched(), NOW) == [kz]


def test_unenriched_report_is_never_disclosed() -> None:
    """A report without enrichment (no country known) is refused."""
    report = enriched()
    report["enrichment"] = None
    assert decide(make_agreement(), report, NOW).reason == "not enriched"


def test_record_round_trip() -> None:
    """An agreement survives its Avro record form unchanged."""
    agreement = make_agreement(
        match={"countries": ["KZ"], "max_tlp": "AMBER+STRICT", "sources": [1, 2]}
    )
    assert agreement_from_record(agreement_to_record(agreement)) == agreement


def problems(raw: Any) -> set[str]:
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(raw)
    return {p.field for p in caught.value.problems}


def base() -> dict[str, Any]:
    return agreement_to_record(make_agreement())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"match": {"max_tlp": "RED"}}, "match.max_tlp"),
        ({"match": {"max_tlp": "PURPLE"}}, "match.max_tlp"),
        ({"match": {"max_tlp": "AMBER", "kinds": ["rumour"]}}, "match.kinds"),
        ({"match": {"max_tlp": "AMBER", "sources": [4]}}, "match.sources"),
        ({"match": {"max_tlp": "AMBER", "countries": ["kazakhstan"]}}, "match.countries"),
        ({"match": {"max_tlp": "AMBER", "everything": True}}, "match.everything"),
        ({"match": "all"}, "match"),
        ({"version": 0}, "version"),
        ({"version": "3"}, "version"),
        ({"recipient": "../audit"}, "recipient"),
        ({"recipient": "KZ-KNB"}, "recipient"),
        ({"id": "x" * 65}, "id"),
        ({"valid_until": "2025-01-01T00:00:00Z"}, "valid_until"),
        ({"valid_from": "yesterday"}, "valid_from"),
        ({"valid_from": "2026-01-01T00:00:00"}, "valid_from"),
        ({"disclose": []}, "disclose"),
        ({"disclose": ["narrative", "password"]}, "disclose"),
        ({"pseudonymise": ["narrative"]}, "pseudonymise"),
        ({"disclose": ["narrative"], "pseudonymise": ["subjects.subject_id"]}, "pseudonymise"),
        ({"purpose": ""}, "purpose"),
        ({"legal_basis": None}, "legal_basis"),
        ({"revoked": "no"}, "revoked"),
        ({"backdoor": 1}, "backdoor"),
    ],
)
def test_malformed_agreements_name_the_field(change: dict[str, Any], field: str) -> None:
    """Every malformed or hostile agreement is refused naming the field at fault."""
    assert field in problems(base() | change)


@pytest.mark.parametrize("raw", [None, [], "agreement", 3])
def test_non_mapping_is_refused(raw: Any) -> None:
    """Anything but a mapping is refused as a whole."""
    assert problems(raw) == {"agreement"}


def test_yaml_datetimes_are_accepted() -> None:
    """YAML loads timestamps as datetimes; those work like ISO strings."""
    raw = base() | {"valid_from": NOW - timedelta(days=1), "valid_until": NOW + timedelta(days=1)}
    assert parse_agreement(raw).valid_from == NOW - timedelta(days=1)
