"""Agreements and the routing policy: a case that routes and one that does not for every rule."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from streams.core.codec import Codec
from streams.core.policy import (
    Agreement,
    Decision,
    agreement_from_record,
    agreement_to_record,
    decide,
    parse_agreement,
    route,
)
from streams.core.report import Handling, Kind, Tlp
from streams.core.schemas import SchemaSet
from streams.errors import AgreementInvalidError
from streams.settings import PROJECT_ROOT
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement

SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")
GRADED = {"source": 2, "assessment": "B", "handling": "P", "conditions": None}
WITH_C = GRADED | {"handling": "C", "conditions": "no onward sharing"}
OBSERVED = {"kind": "observation", "severity": None, "indicators": [{"code": "ERG-13"}]}
MATCHES = Decision(True, "matches")
NEVER_RED = "RED is never disclosed"


def report(country: str = "KZ", duplicate_of: str | None = None, **fields: Any) -> dict[str, Any]:
    """An enriched report for ``country``, optionally marked as a duplicate."""
    record = enriched(country, **fields)
    record["enrichment"]["duplicate_of"] = duplicate_of
    return record


@pytest.mark.parametrize(
    ("match", "routes", "refused", "rule"),
    [
        ({"countries": ["KZ", "KG"]}, {"country": "KG"}, {"country": "TJ"}, "country"),
        ({"facilities": ["TJ-F-001"]}, {}, {"facility_id": "TJ-F-002"}, "facility"),
        ({"kinds": ["incident"]}, {}, OBSERVED, "kind"),
        ({"kinds": ["observation"]}, OBSERVED, {}, "kind"),
        ({"categories": ["RECRUITMENT"]}, {}, {"category": "VIOLENCE"}, "category"),
        ({"max_tlp": "GREEN"}, {"tlp": "GREEN"}, {"tlp": "AMBER"}, "tlp above max_tlp"),
        ({"max_tlp": "CLEAR"}, {"tlp": "CLEAR"}, {"tlp": "GREEN"}, "tlp above max_tlp"),
        ({"max_tlp": "AMBER"}, {"tlp": "AMBER"}, {"tlp": "AMBER+STRICT"}, "tlp above max_tlp"),
        ({"max_tlp": "AMBER+STRICT"}, {"tlp": "AMBER+STRICT"}, {"tlp": "RED"}, NEVER_RED),
        ({"sources": [1]}, {"grading": GRADED | {"source": 1}}, {"grading": GRADED}, "source"),
        ({"assessments": ["A", "B"]}, {}, {"grading": GRADED | {"assessment": "C"}}, "assessment"),
        ({"handling": ["C"]}, {"grading": WITH_C}, {"grading": GRADED}, "handling"),
        ({"handling": ["P"]}, {"grading": GRADED}, {"grading": WITH_C}, "handling"),
        ({"handling": []}, {"grading": GRADED}, {"grading": WITH_C}, "handling"),
        ({}, {}, {"duplicate_of": "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60"}, "duplicate"),
    ],
    ids=[
        "country", "facility", "kind-incident", "kind-observation", "category", "tlp-green",
        "tlp-clear", "tlp-amber", "tlp-red", "source", "assessment", "handling-c",
        "handling-p-only", "handling-empty-is-p", "duplicate",
    ],
)  # fmt: skip
def test_each_rule_routes_and_refuses(
    match: dict[str, Any], routes: dict[str, Any], refused: dict[str, Any], rule: str
) -> None:
    """Under one agreement the report meeting the rule is disclosed; the other is not, naming it."""
    agreement = make_agreement(match=match)
    assert decide(agreement, report(**routes), NOW) == MATCHES
    assert decide(agreement, report(**refused), NOW) == Decision(False, rule)


def test_red_is_never_disclosed_even_by_a_forged_agreement() -> None:
    """An Agreement built around the parser with max_tlp RED still discloses no RED report."""
    agreement = make_agreement()
    red = dataclasses.replace(
        agreement, match=dataclasses.replace(agreement.match, max_tlp=Tlp.RED)
    )
    assert decide(red, report(tlp="AMBER+STRICT"), NOW) == MATCHES
    assert decide(red, report(tlp="RED"), NOW) == Decision(False, NEVER_RED)


def test_validity_window_start() -> None:
    """Nothing is disclosed before valid_from; from valid_from on it is."""
    agreement = make_agreement(valid_from=NOW)
    assert decide(agreement, report(), NOW) == MATCHES
    before = NOW - timedelta(milliseconds=1)
    assert decide(agreement, report(), before) == Decision(False, "not yet valid")


def test_validity_window_end() -> None:
    """Disclosed until just before valid_until; from valid_until on, nothing."""
    agreement = make_agreement()
    last = agreement.valid_until - timedelta(milliseconds=1)
    assert decide(agreement, report(), last) == MATCHES
    assert decide(agreement, report(), agreement.valid_until) == Decision(False, "expired")
    later = agreement.valid_until + timedelta(days=400)
    assert decide(agreement, report(), later) == Decision(False, "expired")


def test_revoked_discloses_nothing() -> None:
    """The same agreement discloses while in force and nothing once revoked."""
    assert decide(make_agreement(revoked=False), report(), NOW) == MATCHES
    assert decide(make_agreement(revoked=True), report(), NOW) == Decision(False, "revoked")


def test_unenriched_report_is_never_disclosed() -> None:
    """A report without enrichment (no country known) is refused."""
    record = report()
    record["enrichment"] = None
    assert decide(make_agreement(), record, NOW) == Decision(False, "not enriched")


def test_first_failing_rule_is_named() -> None:
    """With several rules failing, the decision names the first in the policy's order."""
    agreement = make_agreement(revoked=True, match={"countries": ["KZ"]})
    assert decide(agreement, report("KG", tlp="RED"), NOW).reason == "revoked"
    agreement = make_agreement(match={"countries": ["KZ"]})
    assert decide(agreement, report("KG", duplicate_of="x", tlp="RED"), NOW).reason == "country"


def test_no_agreement_no_disclosure() -> None:
    """With no agreements nothing routes; route returns exactly the matching ones, in order."""
    assert route([], report(), NOW) == []
    kz = make_agreement(match={"countries": ["KZ"]})
    kg = make_agreement(id="KG-1", match={"countries": ["KG"]})
    kz2 = make_agreement(id="KZ-2", recipient="kz-gp", match={"countries": ["KZ"]})
    assert route([kz, kg, kz2], report(), NOW) == [kz, kz2]


def test_design_example_parses() -> None:
    """The agreement of DESIGN.md, loaded as YAML, parses to the values it states."""
    text = """
id: KZ-KNB-2026-01
version: 3
recipient: kz-knb
purpose: prevention of terrorist offences
legal_basis: "statute and article that allow the transfer"
valid_from: 2026-01-01T00:00:00Z
valid_until: 2026-12-31T23:59:59Z
revoked: false
match:
  countries: [KZ]
  facilities: []
  kinds: [incident, observation]
  categories: [RECRUITMENT, EXTREMIST_MATERIAL, RADICALISATION_ACTIVITY]
  max_tlp: AMBER
  sources: [1, 2]
  assessments: [A, B, C]
  handling: [P]
disclose: [event_id, kind, occurred_at, facility_id, category, severity, subjects, narrative]
pseudonymise: [subjects.subject_id]
"""
    agreement = parse_agreement(yaml.safe_load(text))
    assert agreement.valid_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert agreement.match.kinds == (Kind.INCIDENT, Kind.OBSERVATION)
    assert agreement.match.max_tlp is Tlp.AMBER
    assert agreement.match.handling == (Handling.P,)
    assert agreement.match.facilities == ()
    assert agreement.pseudonymise == ("subjects.subject_id",)


def test_record_fits_the_schema_and_round_trips() -> None:
    """agreement_to_record fits agreement.v1.avsc exactly and reads back to the same agreement."""
    agreement = make_agreement(
        match={"countries": ["KZ"], "max_tlp": "AMBER+STRICT", "sources": [1, 2]}
    )
    record = agreement_to_record(agreement)
    schema = SCHEMAS.latest("intelshare.Agreement")
    assert set(record) == {f["name"] for f in schema.raw["fields"]}
    assert record["match"]["max_tlp"] == "AMBER+STRICT"
    codec = Codec(SCHEMAS, "intelshare.Agreement")
    decoded = codec.decode(codec.encode(record))
    assert decoded == record
    assert agreement_from_record(decoded) == agreement


def test_max_tlp_accepts_label_or_avro_symbol() -> None:
    """AMBER+STRICT may be written as its Avro symbol AMBER_STRICT; the record keeps the label."""
    agreement = make_agreement(match={"max_tlp": "AMBER_STRICT"})
    assert agreement.match.max_tlp is Tlp.AMBER_STRICT
    assert agreement_to_record(agreement)["match"]["max_tlp"] == "AMBER+STRICT"


def test_times_are_kept_as_avro_keeps_them() -> None:
    """Times with an offset or microseconds become UTC to the millisecond, so records compare."""
    agreement = make_agreement(valid_from="2026-01-01T05:00:00.123456+05:00")
    assert agreement.valid_from == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert agreement.valid_from.tzinfo is UTC


def test_yaml_datetimes_are_accepted() -> None:
    """YAML loads timestamps as datetimes; those work like ISO strings."""
    raw = base() | {"valid_from": NOW - timedelta(days=1), "valid_until": NOW + timedelta(days=1)}
    assert parse_agreement(raw).valid_from == NOW - timedelta(days=1)


def problems(raw: Any) -> set[str]:
    """The fields named by the AgreementInvalidError that parsing ``raw`` must raise."""
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(raw)
    return {p.field for p in caught.value.problems}


def base() -> dict[str, Any]:
    return agreement_to_record(make_agreement())


def amber(**match: Any) -> dict[str, Any]:
    return {"match": {"max_tlp": "AMBER"} | match}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"match": {"max_tlp": "RED"}}, "match.max_tlp"),
        ({"match": {"max_tlp": "PURPLE"}}, "match.max_tlp"),
        ({"match": {"max_tlp": 3}}, "match.max_tlp"),
        ({"match": {}}, "match.max_tlp"),
        (amber(kinds=["rumour"]), "match.kinds"),
        (amber(kinds="incident"), "match.kinds"),
        (amber(categories=["GOSSIP"]), "match.categories"),
        (amber(assessments=["F"]), "match.assessments"),
        (amber(handling=["X"]), "match.handling"),
        (amber(sources=[4]), "match.sources"),
        (amber(sources=[True]), "match.sources"),
        (amber(sources=["1"]), "match.sources"),
        (amber(countries=["kazakhstan"]), "match.countries"),
        (amber(facilities=["../etc"]), "match.facilities"),
        (amber(everything=True), "match.everything"),
        ({"match": "all"}, "match"),
        ({"match": None}, "match"),
        ({"version": 0}, "version"),
        ({"version": "3"}, "version"),
        ({"version": True}, "version"),
        ({"version": 2**31}, "version"),
        ({"recipient": "../audit"}, "recipient"),
        ({"recipient": "KZ-KNB"}, "recipient"),
        ({"recipient": "x" * 64}, "recipient"),
        ({"id": "x" * 65}, "id"),
        ({"id": "a b"}, "id"),
        ({"id": None}, "id"),
        ({"valid_until": "2025-01-01T00:00:00Z"}, "valid_until"),
        ({"valid_until": "2026-01-01T00:00:00Z"}, "valid_until"),
        ({"valid_from": "yesterday"}, "valid_from"),
        ({"valid_from": "2026-01-01T00:00:00"}, "valid_from"),
        ({"valid_from": datetime(2026, 1, 1)}, "valid_from"),
        ({"valid_from": datetime(2026, 1, 1, tzinfo=UTC).date()}, "valid_from"),
        ({"disclose": []}, "disclose"),
        ({"disclose": "narrative"}, "disclose"),
        ({"disclose": ["narrative", "password"]}, "disclose"),
        ({"disclose": ["narrative", "narrative"]}, "disclose"),
        ({"disclose": ["narrative", "subjects.rftf"]}, "disclose"),
        ({"disclose": [{"a": 1}], "pseudonymise": []}, "disclose"),
        ({"pseudonymise": ["narrative"]}, "pseudonymise"),
        ({"disclose": ["narrative"], "pseudonymise": ["subjects.subject_id"]}, "pseudonymise"),
        (
            {"disclose": ["facility_id", "facility_name"], "pseudonymise": ["facility_id"]},
            "pseudonymise",
        ),
        ({"purpose": ""}, "purpose"),
        ({"purpose": "x" * 2001}, "purpose"),
        ({"purpose": "bell\x07"}, "purpose"),
        ({"legal_basis": "\ud800"}, "legal_basis"),
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


def test_every_problem_is_named_at_once() -> None:
    """One pass names every fault, not just the first, and the label names the agreement."""
    raw = base() | {"version": 0, "recipient": "KZ", "backdoor": 1} | amber(sources=[9])
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(raw, "agreements.yaml #2")
    fields = {p.field for p in caught.value.problems}
    assert fields == {"version", "recipient", "backdoor", "match.sources"}
    assert "agreements.yaml #2 (KZ-KNB-2026-01)" in str(caught.value)


def test_hostile_values_are_not_echoed_whole() -> None:
    """A huge unknown key or value is shortened in the message, never repeated in full."""
    raw = base() | {"k" * 10_000: 1} | amber(kinds=["x" * 10_000])
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(raw)
    assert len(str(caught.value)) < 1000


def test_absent_optional_fields_default() -> None:
    """revoked defaults to false; absent or null lists match anything, pseudonymise to none."""
    raw = base()
    del raw["revoked"], raw["pseudonymise"]
    raw["match"] = {"max_tlp": "GREEN", "countries": None}
    agreement = parse_agreement(raw)
    assert agreement.revoked is False
    assert agreement.pseudonymise == ()
    assert agreement.match.countries == ()
    assert isinstance(agreement, Agreement)
