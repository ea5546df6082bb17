"""Demo data: the programme report's figures, valid reports, named bad inputs, agreements."""

from __future__ import annotations

import base64
import collections
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.demo_data import (
    AGENCIES,
    EXAMPLE_AGREEMENTS,
    agency_line,
    demo_agencies,
    demo_agreements,
    main,
    of_type,
    reference_data,
)
from ops.demo_reports import DemoReports, demo_reports
from ops.workload import workload
from streams.core.codec import Codec
from streams.core.dedup import DedupState, Verdict, content_digest
from streams.core.enrich import enrich, facility_of
from streams.core.policy import parse_agreement, route
from streams.core.reference import parse_reference_line
from streams.core.report import Tlp, validate_report
from streams.core.schemas import SchemaSet
from streams.errors import DecodeError, ReportInvalidError
from streams.settings import PROJECT_ROOT
from tests.factories import NOW

# The programme report (shared/context/rftf-detention-program-report-2019-2023.txt).
PRISONS = {"IQ": 34, "KZ": 80, "KG": 28, "TJ": 19}  # lines 430-437, 413-416, 446-448, 509-511
VE_AND_RFTF = {
    "KZ": (673, 50),  # lines 418-425
    "KG": (200, 38),  # lines 449-456
    "TJ": (2133, 281),  # lines 512-519
    "IQ": (1000, 100),  # not in the report: the demo's documented assumption
}


@pytest.fixture(scope="module")
def reference() -> list[dict[str, Any]]:
    return reference_data(random.Random(1))


@pytest.fixture(scope="module")
def facilities(reference: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    return of_type(reference, "facility")


@pytest.fixture(scope="module")
def subjects(reference: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    return of_type(reference, "subject")


@pytest.fixture(scope="module")
def made(facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]) -> DemoReports:
    return demo_reports(random.Random(2), facilities, subjects, now=NOW)


def country_of(report: Mapping[str, Any]) -> str:
    return str(report["facility_id"])[:2]


def test_facility_counts_follow_the_report(facilities: list[Mapping[str, Any]]) -> None:
    """Iraq 34, Kazakhstan 80, Kyrgyzstan 28 and Tajikistan 19 prisons, with ids CC-F-NNN."""
    assert collections.Counter(f["country"] for f in facilities) == PRISONS
    assert all(f["facility_id"].startswith(f"{f['country']}-F-") for f in facilities)
    assert len({f["facility_id"] for f in facilities}) == sum(PRISONS.values())


def test_iraq_splits_federal_and_kurdistan_region(facilities: list[Mapping[str, Any]]) -> None:
    """Iraq's 34 are 24 federal prisons and 10 Kurdistan Region facilities (IQ-F-025..034)."""
    iraq = [f for f in facilities if f["country"] == "IQ"]
    federal = [f for f in iraq if f["name"].startswith("Federal Prison")]
    kurdistan = [f for f in iraq if f["name"].startswith("Kurdistan Region")]
    assert (len(federal), len(kurdistan)) == (24, 10)
    assert {f["facility_id"] for f in kurdistan} == {f"IQ-F-{n:03d}" for n in range(25, 35)}


def test_kazakhstan_has_16_pretrial_centres(facilities: list[Mapping[str, Any]]) -> None:
    """16 of Kazakhstan's 80 facilities are pre-trial detention centres."""
    pretrial = [f for f in facilities if f["name"].startswith("Pre-trial Detention Centre")]
    assert {f["country"] for f in pretrial} == {"KZ"}
    assert len(pretrial) == 16


def test_every_security_level_is_one_of_four(facilities: list[Mapping[str, Any]]) -> None:
    """Security levels are maximum, high, medium or minimum, and each country has a maximum."""
    assert {f["security_level"] for f in facilities} <= {"maximum", "high", "medium", "minimum"}
    assert {f["country"] for f in facilities if f["security_level"] == "maximum"} == set(PRISONS)


def test_ve_and_rftf_counts_follow_the_report(subjects: list[Mapping[str, Any]]) -> None:
    """Per country, the violent-extremist and RFTF prisoners number as the report says."""
    ve = collections.Counter(s["subject_id"][:2] for s in subjects if s["violent_extremist"])
    rftf = collections.Counter(s["subject_id"][:2] for s in subjects if s["rftf"])
    assert {c: (ve[c], rftf[c]) for c in VE_AND_RFTF} == VE_AND_RFTF


def test_rftf_are_a_subset_of_ve(subjects: list[Mapping[str, Any]]) -> None:
    """Every RFTF is also a violent extremist."""
    assert all(s["violent_extremist"] for s in subjects if s["rftf"])


def test_there_are_ordinary_prisoners_too(subjects: list[Mapping[str, Any]]) -> None:
    """Each country also has prisoners who are neither VE nor RFTF."""
    ordinary = collections.Counter(
        s["subject_id"][:2] for s in subjects if not s["violent_extremist"]
    )
    assert set(ordinary) == set(PRISONS)
    assert min(ordinary.values()) >= 50


def test_subject_ids_are_unique_register_numbers(subjects: list[Mapping[str, Any]]) -> None:
    """Subject ids look like KZ-P-000123 and are never repeated."""
    ids = [s["subject_id"] for s in subjects]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 11 and i[2:5] == "-P-" and i[5:].isdigit() for i in ids)


def test_risk_is_skewed_higher_for_ve(subjects: list[Mapping[str, Any]]) -> None:
    """VE prisoners are mostly HIGH or VERY_HIGH; ordinary prisoners mostly LOW or MEDIUM."""

    def high_share(group: Sequence[Mapping[str, Any]]) -> float:
        return sum(s["risk_level"] in ("HIGH", "VERY_HIGH") for s in group) / len(group)

    assert high_share([s for s in subjects if s["rftf"]]) > 0.8
    assert high_share([s for s in subjects if s["violent_extremist"]]) > 0.6
    assert high_share([s for s in subjects if not s["violent_extremist"]]) < 0.15


def test_every_reference_line_loads(reference: list[dict[str, Any]]) -> None:
    """Each facility and subject line passes ``intelshare reference load``'s checks."""
    for n, line in enumerate(reference, 1):
        parse_reference_line(line, f"line {n}", NOW)


def test_every_demo_report_validates(made: DemoReports) -> None:
    """Every demo report and resubmission is accepted by validate_report at now."""
    for report in made.reports + made.resubmissions:
        validate_report(report, now=NOW)
    assert len(made.reports) == 300


def test_every_demo_report_names_known_facilities_and_subjects(
    made: DemoReports, facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]
) -> None:
    """Reports name facilities and subjects of the reference data, of the same country."""
    known_facilities = {f["facility_id"] for f in facilities}
    known_subjects = {s["subject_id"] for s in subjects}
    for report in made.reports:
        assert report["facility_id"] in known_facilities
        assert report["unit_id"].startswith(f"{country_of(report)}-PIU-")
        for person in report["subjects"]:
            assert person["subject_id"] in known_subjects
            assert person["subject_id"][:2] == country_of(report)


def test_reports_are_spread_like_the_figures(made: DemoReports) -> None:
    """All four countries report; Tajikistan, with the most VE prisoners, reports most."""
    spread = collections.Counter(country_of(r) for r in made.reports)
    assert set(spread) == set(PRISONS)
    assert spread.most_common(1)[0][0] == "TJ"
    assert spread["KG"] < spread["KZ"]


def test_tlp_mix_includes_red_and_green(made: DemoReports) -> None:
    """Some reports are RED (never disclosed) and some GREEN."""
    tlps = collections.Counter(r["tlp"] for r in made.reports)
    assert tlps["RED"] >= 10
    assert tlps["GREEN"] >= 10


def test_narratives_are_filled_templates(made: DemoReports) -> None:
    """Narratives are complete sentences with every placeholder filled."""
    for report in made.reports:
        assert "{" not in report["narrative"]
        assert report["narrative"].endswith(".")


def test_resubmissions_duplicates_and_correlations_are_seen_by_dedup(made: DemoReports) -> None:
    """Through dedup in arrival order: 5 replays, at least 5 duplicates and 5 correlations."""
    state = DedupState()
    seen = collections.Counter[str]()
    for report in made.reports + made.resubmissions:
        record = validate_report(report, now=NOW)
        verdict, _ = state.observe(record, record["reported_at"])
        seen["replay"] += verdict.replay
        seen["duplicate"] += verdict.duplicate_of is not None
        seen["correlated"] += bool(verdict.correlated_with)
    assert seen["replay"] == len(made.resubmissions) == 5
    assert seen["duplicate"] >= 5
    assert seen["correlated"] >= 5


def test_resubmissions_are_exact_copies(made: DemoReports) -> None:
    """A resubmission is identical to a report, event id included."""
    for copy in made.resubmissions:
        assert copy in made.reports


def test_bad_inputs_cover_the_required_cases(made: DemoReports) -> None:
    """Bad TLP, missing facility, time travel, unknown facility, random and truncated bytes."""
    names = {b.name for b in made.bad}
    required = {
        "bad-tlp",
        "missing-facility",
        "occurred-after-reported",
        "unknown-facility",
        "random-bytes",
        "truncated",
    }
    assert required <= names


def test_bad_reports_are_rejected_naming_their_field(made: DemoReports) -> None:
    """Each bad report of stage submit is rejected by validate_report, naming the field given."""
    for bad in (b for b in made.bad if b.stage == "submit"):
        with pytest.raises(ReportInvalidError) as caught:
            validate_report(bad.value, now=NOW)
        assert bad.field in {p.field for p in caught.value.problems}, bad.name


def test_unknown_facility_passes_submit_and_fails_enrichment(
    made: DemoReports, facilities: list[Mapping[str, Any]]
) -> None:
    """A well-formed but unknown facility id is valid, then a named dead letter at enrichment."""
    by_id = {f["facility_id"]: f for f in facilities}
    [bad] = [b for b in made.bad if b.stage == "enrich"]
    record = validate_report(bad.value, now=NOW)
    with pytest.raises(ReportInvalidError) as caught:
        facility_of(record, by_id.get)
    assert [p.field for p in caught.value.problems] == ["facility_id"]


def test_bad_bytes_are_not_decodable(made: DemoReports) -> None:
    """Each raw bad input fails to decode as an intelshare report."""
    codec = Codec(SchemaSet.from_directory(PROJECT_ROOT / "schemas"), "intelshare.Report")
    raw = [b for b in made.bad if b.stage == "decode"]
    assert len(raw) >= 4
    for bad in raw:
        assert isinstance(bad.value, bytes)
        with pytest.raises(DecodeError):
            codec.decode(bad.value)


def test_agreements_parse_and_name_demo_agencies() -> None:
    """Every demo agreement passes the agreement checks and names a demo agency."""
    agreements = [parse_agreement(a) for a in demo_agreements(NOW)]
    assert {a.recipient for a in agreements} == set(AGENCIES)
    assert len({a.id for a in agreements}) == len(agreements)


def test_agreements_cover_the_four_countries() -> None:
    """There are agreements for reports from Iraq, Kazakhstan, Kyrgyzstan and Tajikistan."""
    countries = {c for a in demo_agreements(NOW) for c in a["match"]["countries"]}
    assert countries == set(PRISONS)


def test_agreements_include_an_expired_one() -> None:
    """One agreement's validity ended before now (and one for the same agency is current)."""
    agreements = [parse_agreement(a) for a in demo_agreements(NOW)]
    expired = [a for a in agreements if a.valid_until < NOW]
    assert len(expired) == 1
    current = [a for a in agreements if a.valid_from <= NOW < a.valid_until]
    assert expired[0].recipient in {a.recipient for a in current}


def test_agreements_include_a_green_limited_one() -> None:
    """One agreement discloses nothing above GREEN."""
    agreements = [parse_agreement(a) for a in demo_agreements(NOW)]
    assert [a.recipient for a in agreements if a.match.max_tlp is Tlp.GREEN] == ["kz-police"]


def test_agreements_include_a_cross_border_one() -> None:
    """One agreement sends a country's reports to an agency of another country."""
    home = {a.agency_id: a.country for a in demo_agencies()}
    cross = [a for a in demo_agreements(NOW) if home[a["recipient"]] not in a["match"]["countries"]]
    assert [(a["recipient"], a["match"]["countries"]) for a in cross] == [("kg-gsin", ["KZ"])]


def test_agreements_include_one_accepting_handling_c() -> None:
    """One agreement can honour handling conditions (handling C)."""
    agreements = [parse_agreement(a) for a in demo_agreements(NOW)]
    assert [a.recipient for a in agreements if "C" in a.match.handling] == ["kg-gknb"]


def test_agreements_pseudonymise_somewhere() -> None:
    """At least one agreement discloses subjects only under per-recipient pseudonyms."""
    assert any(a["pseudonymise"] == ["subjects.subject_id"] for a in demo_agreements(NOW))


def test_example_agreements_file_is_what_main_writes() -> None:
    """ops/examples/agreements.yaml is the demo agreements for the tests' now, as a YAML list."""
    assert yaml.safe_load(EXAMPLE_AGREEMENTS.read_text()) == demo_agreements(NOW)


def test_agencies_have_valid_unique_ids() -> None:
    """Agency ids are unique feed-name ids of the four countries."""
    agencies = demo_agencies()
    assert len({a.agency_id for a in agencies}) == len(agencies)
    assert {a.country for a in agencies} == set(PRISONS)
    assert all(a.agency_id.replace("-", "").isalnum() for a in agencies)
    assert all(a.agency_id == a.agency_id.lower() for a in agencies)


def test_agency_lines_load_as_reference_data() -> None:
    """Each demo agency, given a base64 key, is a valid ``reference load`` agency line."""
    key = base64.b64encode(bytes(range(1, 33))).decode()
    for agency in demo_agencies():
        ref = parse_reference_line(agency_line(agency, key), agency.agency_id, NOW)
        assert (ref.key, ref.record["country"]) == (agency.agency_id, agency.country)


def test_demo_reports_reach_agencies_in_every_country(
    made: DemoReports, facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]
) -> None:
    """Routed through enrichment and policy, the demo reports reach agencies in all countries."""
    by_id = {f["facility_id"]: f for f in facilities}
    people = {s["subject_id"]: s for s in subjects}
    agreements = [parse_agreement(a) for a in demo_agreements(NOW)]
    home = {a.agency_id: a.country for a in demo_agencies()}
    reached = set()
    for report in made.reports:
        record = validate_report(report, now=NOW)
        enriched = enrich(
            record,
            facility=by_id[record["facility_id"]],
            subjects=people.get,
            verdict=Verdict(False, None, ()),
            now=NOW,
        )
        reached |= {home[a.recipient] for a in route(agreements, enriched, NOW)}
    assert reached == set(PRISONS)


def test_generators_are_deterministic_for_a_seed(
    facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]
) -> None:
    """The same seed and now give the same data; another seed gives other data."""
    assert reference_data(random.Random(5)) == reference_data(random.Random(5))
    assert reference_data(random.Random(5)) != reference_data(random.Random(6))
    first = demo_reports(random.Random(5), facilities, subjects, 120, now=NOW)
    assert first == demo_reports(random.Random(5), facilities, subjects, 120, now=NOW)
    assert first != demo_reports(random.Random(6), facilities, subjects, 120, now=NOW)
    again = [list(workload(random.Random(5), 50, facilities, subjects, now=NOW)) for _ in "ab"]
    assert again[0] == again[1]
    assert demo_agreements(NOW) == demo_agreements(NOW)


def route_counts(
    reports: list[dict[str, Any]], facilities: Sequence[Mapping[str, Any]]
) -> list[int]:
    by_id = {f["facility_id"]: f for f in facilities}
    agreements = [parse_agreement(a) for a in demo_agreements(NOW)]
    counts = []
    for report in reports:
        record = validate_report(report, now=NOW)
        enriched = enrich(
            record,
            facility=by_id[record["facility_id"]],
            subjects=lambda _: None,
            verdict=Verdict(False, None, ()),
            now=NOW,
        )
        counts.append(len(route(agreements, enriched, NOW)))
    return counts


def test_workload_reports_each_match_three_agreements(
    facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]
) -> None:
    """Every workload report is valid and, enriched and routed, matches three demo agreements."""
    reports = list(workload(random.Random(3), 500, facilities, subjects, now=NOW))
    assert len(reports) == 500
    assert set(route_counts(reports, facilities)) == {3}


def test_workload_mixes_counts_for_a_fractional_mean(
    facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]
) -> None:
    """Asked for 2.5 agreements per report, the workload mixes twos and threes to that mean."""
    reports = list(
        workload(random.Random(4), 1000, facilities, subjects, now=NOW, agreements_per_report=2.5)
    )
    counts = route_counts(reports, facilities)
    assert set(counts) == {2, 3}
    assert 2.4 < sum(counts) / len(counts) < 2.6


def test_workload_reports_are_never_content_duplicates(
    facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]
) -> None:
    """Workload reports have distinct event ids and content, so dedup withholds none."""
    reports = [
        validate_report(r, now=NOW)
        for r in workload(random.Random(3), 2000, facilities, subjects, now=NOW)
    ]
    assert len({r["event_id"] for r in reports}) == 2000
    assert len({content_digest(r) for r in reports}) == 2000


def test_workload_refuses_an_unreachable_mean(
    facilities: list[Mapping[str, Any]], subjects: list[Mapping[str, Any]]
) -> None:
    """No report matches ten demo agreements: asking for it is an error, not a silent mix."""
    with pytest.raises(ValueError, match="no mix"):
        workload(random.Random(3), 10, facilities, subjects, now=NOW, agreements_per_report=10)


def test_main_writes_the_data_set(tmp_path: Path) -> None:
    """``python -m ops.demo_data OUTDIR`` writes loadable reference data, reports and bad inputs."""
    assert main([str(tmp_path), "--count", "60", "--now", "2026-11-26T12:00:00Z"]) == 0
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {
        "reference.jsonl",
        "agencies.jsonl",
        "agreements.yaml",
        "reports.jsonl",
        "resubmissions.jsonl",
        "bad-reports.jsonl",
        "bad-inputs.jsonl",
        "bad-raw/truncated.bin",
    } <= written
    reports = (tmp_path / "reports.jsonl").read_text().splitlines()
    assert len(reports) == 60
    assert yaml.safe_load((tmp_path / "agreements.yaml").read_text()) == demo_agreements(NOW)
