"""Each rule of an agreement as parsed and at its boundary: what a written agreement says is
exactly what the policy applies (``sources: [2, 3]`` never becomes "any source"), and every
fault is named in the words the operator reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.core.policy import (
    AGREEMENT_FIELDS,
    DISCLOSABLE,
    MATCH_FIELDS,
    PSEUDONYMISABLE,
    Decision,
    agreement_from_record,
    agreement_to_record,
    decide,
    parse_agreement,
)
from streams.core.report import Assessment, Category, Handling, Kind, Tlp
from streams.errors import AgreementInvalidError
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement

GRADED = {"source": 2, "assessment": "B", "handling": "P", "conditions": None}


def raw(**changes: Any) -> dict[str, Any]:
    """A valid agreement as written, with ``changes``."""
    return agreement_to_record(make_agreement()) | changes


def match(**conditions: Any) -> dict[str, Any]:
    return raw(match={"max_tlp": "AMBER"} | conditions)


def problems(agreement: Any) -> dict[str, str]:
    try:
        parse_agreement(agreement)
    except AgreementInvalidError as exc:
        return {p.field: p.reason for p in exc.problems}
    return {}


def graded(source: int) -> dict[str, Any]:
    return enriched(grading=GRADED | {"source": source})


def test_sources_2_and_3_exclude_source_1() -> None:
    """``sources: [2, 3]`` is read as those two evaluations, and a source-1 report is not
    disclosed under it."""
    agreement = parse_agreement(match(sources=[2, 3]))
    assert agreement.match.sources == (2, 3)
    assert decide(agreement, graded(1), NOW) == Decision(False, "source")
    assert decide(agreement, graded(2), NOW) == Decision(True, "matches")
    assert decide(agreement, graded(3), NOW) == Decision(True, "matches")


@pytest.mark.parametrize("sources", [[1], [2], [3], [1, 3], [3, 1, 2]])
def test_each_list_of_sources_is_kept_as_written(sources: list[int]) -> None:
    """Every allowed combination of source evaluations parses to itself, and exactly those
    sources are disclosed."""
    agreement = parse_agreement(match(sources=sources))
    assert agreement.match.sources == tuple(sources)
    assert [s for s in (1, 2, 3) if decide(agreement, graded(s), NOW).disclose] == sorted(sources)


@pytest.mark.parametrize("bad", [0, 4, -1, "2", 2.0, True, None, [1]])
def test_a_source_that_is_not_1_2_or_3_is_named(bad: Any) -> None:
    """A source outside 1-3, or not a whole number, is refused, never dropped silently."""
    assert problems(match(sources=[1, bad])) == {
        "match.sources": f"{bad!r} is not a source evaluation 1, 2 or 3"
    }


def test_each_list_condition_is_parsed_to_exactly_its_values() -> None:
    """Countries, facilities, kinds, categories, assessments and handling: the values written,
    in order, as their domain types."""
    agreement = parse_agreement(
        match(
            countries=["KZ", "KG"], facilities=["KZ-F-001", "KZ-F-002"], kinds=["observation"],
            categories=["VIOLENCE", "THREAT"], assessments=["A", "C"], handling=["P", "C"],
        )
    )  # fmt: skip
    m = agreement.match
    assert m.countries == ("KZ", "KG")
    assert m.facilities == ("KZ-F-001", "KZ-F-002")
    assert m.kinds == (Kind.OBSERVATION,)
    assert m.categories == (Category.VIOLENCE, Category.THREAT)
    assert m.assessments == (Assessment.A, Assessment.C)
    assert m.handling == (Handling.P, Handling.C)
    assert m.max_tlp is Tlp.AMBER


def test_absent_conditions_match_anything_but_handling_c() -> None:
    """No lists at all: every country, facility, kind, category, source and assessment; only
    handling P."""
    agreement = parse_agreement(raw(match={"max_tlp": "AMBER"}))
    m = agreement.match
    assert (m.countries, m.facilities, m.kinds, m.categories, m.sources, m.assessments,
            m.handling) == ((), (), (), (), (), (), ())  # fmt: skip
    report = enriched("KG", facility_id="KG-F-009", category="OTHER",
                      grading={"source": 3, "assessment": "E", "handling": "P"})  # fmt: skip
    assert decide(agreement, report, NOW).disclose
    with_c = enriched(grading=GRADED | {"handling": "C", "conditions": "none onward"})
    assert decide(agreement, with_c, NOW) == Decision(False, "handling")


@pytest.mark.parametrize(
    ("written", "tlp"),
    [("CLEAR", Tlp.CLEAR), ("GREEN", Tlp.GREEN), ("AMBER", Tlp.AMBER),
     ("AMBER+STRICT", Tlp.AMBER_STRICT), ("AMBER_STRICT", Tlp.AMBER_STRICT)],
)  # fmt: skip
def test_max_tlp_is_read_as_written(written: str, tlp: Tlp) -> None:
    """Each TLP an agreement may name, as label or Avro symbol, is that TLP, and the reports
    at it are disclosed while those one step above are not."""
    agreement = parse_agreement(raw(match={"max_tlp": written}))
    assert agreement.match.max_tlp is tlp
    assert decide(agreement, enriched(tlp=tlp.value), NOW).disclose
    above = list(Tlp)[tlp.rank() + 1]
    assert not decide(agreement, enriched(tlp=above.value), NOW).disclose


@pytest.mark.parametrize(
    ("max_tlp", "reason"),
    [("RED", "RED is never disclosed by an agreement"),
     (None, "is required: CLEAR, GREEN, AMBER or AMBER+STRICT"),
     (2, "is required: CLEAR, GREEN, AMBER or AMBER+STRICT"),
     ("WHITE", "is required: CLEAR, GREEN, AMBER or AMBER+STRICT")],
)  # fmt: skip
def test_max_tlp_faults_are_worded(max_tlp: Any, reason: str) -> None:
    """RED, a missing max_tlp and an unknown one are each refused with what to write."""
    assert problems(raw(match={"max_tlp": max_tlp})) == {"match.max_tlp": reason}


@pytest.mark.parametrize(
    "key", ["countries", "facilities", "kinds", "categories", "sources", "assessments", "handling"]
)
def test_a_condition_that_is_not_a_list_is_named(key: str) -> None:
    """Each list condition given as a single value is refused, never read as "any"."""
    assert problems(match(**{key: "KZ"})) == {f"match.{key}": "must be a list"}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"countries": ["XX"]}, "match.countries",
         "XX is not an assigned ISO 3166-1 alpha-2 code (e.g. KZ, IQ)"),
        ({"kinds": ["rumour"]}, "match.kinds", "'rumour' is not one of incident, observation"),
        ({"handling": ["X"]}, "match.handling", "'X' is not one of P, C"),
        ({"x" * 50: 1}, "match." + "x" * 40, "is not a condition of an agreement"),
    ],
)  # fmt: skip
def test_condition_faults_are_worded(change: dict[str, Any], field: str, reason: str) -> None:
    """What an operator reads for a bad condition (an unknown one named by its first 40
    characters)."""
    assert problems(match(**change)) == {field: reason}


def test_the_version_runs_from_1_to_the_largest_avro_int() -> None:
    """Versions 1 and 2**31-1 are accepted; 0 and 2**31 are not."""
    assert parse_agreement(raw(version=1)).version == 1
    assert parse_agreement(raw(version=2**31 - 1)).version == 2**31 - 1
    reason = "must be a whole number from 1, raised with every change"
    for bad in (0, 2**31, -1):
        assert problems(raw(version=bad)) == {"version": reason}


def test_purpose_and_legal_basis_take_2000_characters_and_new_lines() -> None:
    """Texts of exactly 2000 characters pass, with new lines; 2001 do not; absent is named."""
    text = "line one\n" + "x" * 1991
    agreement = parse_agreement(raw(purpose=text, legal_basis=text))
    assert (agreement.purpose, agreement.legal_basis) == (text, text)
    assert problems(raw(purpose=text + "x")) == {
        "purpose": "is 2001 characters, over the limit of 2000; shorten it"
    }
    assert problems(raw(legal_basis=None)) == {"legal_basis": "is required text"}


def test_the_validity_window_must_be_at_least_a_millisecond() -> None:
    """valid_until equal to valid_from is refused; one millisecond later is an agreement."""
    start = "2026-01-01T00:00:00Z"
    assert problems(raw(valid_from=start, valid_until=start)) == {
        "valid_until": "must be after valid_from"
    }
    agreement = parse_agreement(raw(valid_from=start, valid_until="2026-01-01T00:00:00.001Z"))
    assert agreement.valid_until - agreement.valid_from == timedelta(milliseconds=1)


def test_times_are_cut_to_the_millisecond_in_utc() -> None:
    """Validity times are kept as Avro keeps them: UTC, whole milliseconds."""
    agreement = parse_agreement(
        raw(valid_from="2026-01-01T05:00:00.123999+05:00", valid_until="2026-12-31T23:59:59Z")
    )
    assert agreement.valid_from == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert agreement.valid_until == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_missing_times_are_named() -> None:
    """An agreement without a validity window is refused, naming each time."""
    written = raw()
    del written["valid_from"], written["valid_until"]
    found = problems(written)
    assert set(found) == {"valid_from", "valid_until"}


def test_the_state_of_an_agreement_over_time() -> None:
    """not-yet-valid before valid_from, active from it, expired from valid_until; revoked
    whatever the time."""
    agreement = parse_agreement(raw())
    start, end = agreement.valid_from, agreement.valid_until
    ms = timedelta(milliseconds=1)
    assert agreement.state(start - ms) == "not-yet-valid"
    assert agreement.state(start) == "active"
    assert agreement.state(end - ms) == "active"
    assert agreement.state(end) == "expired"
    revoked = parse_agreement(raw(revoked=True))
    assert revoked.revoked is True
    assert revoked.state(start) == "revoked"
    assert decide(revoked, enriched(), NOW) == Decision(False, "revoked")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"disclose": ["narrative", "subjects.risk_level"]}, "disclose",
         "subjects.risk_level needs subjects disclosed too"),
        ({"disclose": ["narrative", "narrative"]}, "disclose", "narrative is listed twice"),
        ({"disclose": []}, "disclose", "must list at least one field"),
        ({"disclose": ["narrative"], "pseudonymise": ["unit_id"]}, "pseudonymise",
         "unit_id is not disclosed; disclose it or drop it"),
        ({"disclose": ["facility_id", "facility_name"], "pseudonymise": ["facility_id"]},
         "pseudonymise", "facility_id is pseudonymised but facility_name names it"),
        ({"pseudonymise": ["narrative"]}, "pseudonymise",
         "'narrative' is not one of subjects.subject_id, unit_id, facility_id"),
        ({"x" * 50: 1}, "x" * 40, "is not a field of an agreement"),
        ({"revoked": "yes"}, "revoked", "must be true or false"),
        ({"match": []}, "match", "is required: a mapping of conditions"),
    ],
)  # fmt: skip
def test_field_faults_are_worded(change: dict[str, Any], field: str, reason: str) -> None:
    """What an operator reads for each fault of disclose, pseudonymise and the other fields."""
    found = problems(raw(**change))
    assert found.get(field) == reason, found


def test_an_unknown_disclosed_field_lists_the_disclosable_ones() -> None:
    """Disclosing a field that does not exist names every field that may be disclosed."""
    found = problems(raw(disclose=["narrative", "password"], pseudonymise=[]))
    assert found == {"disclose": f"'password' is not one of {', '.join(DISCLOSABLE)}"}


def test_subject_details_and_identifiers_parse_when_subjects_are_disclosed() -> None:
    """subjects.* details are accepted with subjects; each pseudonymisable id is accepted
    when its field is disclosed."""
    agreement = parse_agreement(
        raw(disclose=["subjects", "subjects.rftf", "unit_id", "facility_id"],
            pseudonymise=["subjects.subject_id", "unit_id", "facility_id"])
    )  # fmt: skip
    assert agreement.disclose == ("subjects", "subjects.rftf", "unit_id", "facility_id")
    assert agreement.pseudonymise == PSEUDONYMISABLE


def test_the_field_lists_are_the_documented_ones() -> None:
    """The fields of an agreement and of its match, and what may be disclosed, in order."""
    assert AGREEMENT_FIELDS == (
        "id", "version", "recipient", "purpose", "legal_basis", "valid_from", "valid_until",
        "revoked", "match", "disclose", "pseudonymise",
    )  # fmt: skip
    assert MATCH_FIELDS == (
        "countries", "facilities", "kinds", "categories", "max_tlp", "sources", "assessments",
        "handling",
    )  # fmt: skip
    assert DISCLOSABLE == (
        "event_id", "kind", "unit_id", "facility_id", "occurred_at", "reported_at", "tlp",
        "grading", "category", "severity", "subjects", "indicators", "narrative", "country",
        "facility_name", "security_level", "subjects.risk_level", "subjects.rftf",
        "correlated_with",
    )  # fmt: skip
    assert PSEUDONYMISABLE == ("subjects.subject_id", "unit_id", "facility_id")


def test_an_agreement_is_labelled_by_its_id_in_errors() -> None:
    """The error names the agreement's source and id, and only the problems found."""
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(raw(version=0), "agreements.yaml #1")
    assert "agreements.yaml #1 (KZ-KNB-2026-01)" in str(caught.value)
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(raw(id=None, version=0), "agreements.yaml #1")
    assert "agreements.yaml #1 (" not in str(caught.value)


def test_the_record_round_trips_every_condition() -> None:
    """agreement_to_record writes each condition as its Avro value, and reads back equal."""
    agreement = parse_agreement(
        match(countries=["KZ"], facilities=["KZ-F-001"], kinds=["incident"],
              categories=["THREAT"], sources=[1, 2], assessments=["A"], handling=["C"])
    )  # fmt: skip
    record = agreement_to_record(agreement)
    assert record["match"] == {
        "countries": ["KZ"], "facilities": ["KZ-F-001"], "kinds": ["incident"],
        "categories": ["THREAT"], "max_tlp": "AMBER", "sources": [1, 2], "assessments": ["A"],
        "handling": ["C"],
    }  # fmt: skip
    assert parse_agreement(record) == agreement
    assert {k: record[k] for k in ("id", "version", "recipient", "revoked")} == {
        "id": "KZ-KNB-2026-01", "version": 3, "recipient": "kz-knb", "revoked": False,
    }  # fmt: skip


def test_each_rule_is_named_when_it_refuses() -> None:
    """Facility, kind, category and assessment refusals name their rule; a report at the
    edge of the window and of the TLP is disclosed."""
    agreement = parse_agreement(
        match(facilities=["TJ-F-001"], kinds=["incident"], categories=["RECRUITMENT"],
              assessments=["B"], countries=["KZ"])
    )  # fmt: skip
    assert decide(agreement, enriched(), NOW) == Decision(True, "matches")
    cases = [
        (enriched(facility_id="TJ-F-002"), "facility"),
        (enriched(kind="observation", severity=None, indicators=[{"code": "x"}]), "kind"),
        (enriched(category="THREAT"), "category"),
        (enriched(grading=GRADED | {"assessment": "A"}), "assessment"),
        (enriched("KG"), "country"),
        (enriched(tlp="AMBER+STRICT"), "tlp above max_tlp"),
    ]
    for report, rule in cases:
        assert decide(agreement, report, NOW) == Decision(False, rule)


def test_a_long_bad_value_is_shown_cut_to_forty_characters() -> None:
    """A long bad source or disclosed field is quoted by its first 37 characters and "..."."""
    long = "x" * 100
    shown = repr(long)[:37] + "..."
    assert problems(match(sources=[long])) == {
        "match.sources": f"{shown} is not a source evaluation 1, 2 or 3"
    }
    assert problems(raw(disclose=[long], pseudonymise=[]))["disclose"].startswith(
        f"{shown} is not one of event_id, "
    )


def test_what_is_not_a_mapping_is_refused_under_its_label() -> None:
    """A non-mapping is one problem, named under the label given, or "agreement"."""
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(["id: x"], "agreements.yaml #2")
    assert str(caught.value) == "agreements.yaml #2 rejected: agreement: must be a mapping"
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement("id: x")
    assert str(caught.value) == "agreement rejected: agreement: must be a mapping"
    with pytest.raises(AgreementInvalidError) as caught:
        parse_agreement(raw(version=0))
    assert str(caught.value).startswith("agreement (KZ-KNB-2026-01) rejected: version: ")


def test_a_published_agreement_is_checked_by_the_same_rules_and_says_so() -> None:
    """A record read back from intel.agreements is parsed as a written one, and a bad one is
    named as the published agreement."""
    agreement = parse_agreement(raw())
    assert agreement_from_record(agreement_to_record(agreement)) == agreement
    with pytest.raises(AgreementInvalidError) as caught:
        agreement_from_record(raw(version=0))
    assert str(caught.value).startswith("published agreement (KZ-KNB-2026-01) rejected: ")
