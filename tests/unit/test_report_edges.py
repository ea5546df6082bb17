"""Report validation at its edges: every limit at its value and one past it, values of the
wrong JSON type, the direction of the clock-skew allowance, and the exact words a unit reads."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from streams.core.report import (
    MAX_LIST_ITEMS,
    MAX_NARRATIVE_BYTES,
    Tlp,
    report_to_json,
    validate_report,
)
from streams.core.times import format_time
from streams.errors import ReportInvalidError
from tests.factories import NOW, incident, observation

REPORTED = datetime(2026, 11, 20, 16, 40, tzinfo=UTC)
"""reported_at of the factories' reports."""


def problems(report: Any, now: datetime = NOW) -> dict[str, str]:
    """Field -> reason of every problem; empty when the report is valid."""
    try:
        validate_report(report, now=now)
    except ReportInvalidError as exc:
        return {p.field: p.reason for p in exc.problems}
    return {}


def test_the_limits_are_those_documented() -> None:
    """64 KiB of narrative, 200 subjects or indicators."""
    assert (MAX_NARRATIVE_BYTES, MAX_LIST_ITEMS) == (65_536, 200)


@pytest.mark.parametrize(
    ("narrative", "ok"),
    [
        ("a" * 65_536, True),
        ("a" * 65_537, False),
        ("é" * 32_768, True),
        ("é" * 32_768 + "a", False),
    ],
)
def test_the_narrative_limit_is_64_kib_of_utf8(narrative: str, ok: bool) -> None:
    """65,536 UTF-8 bytes pass, one more byte is refused, counted in bytes, not characters."""
    found = problems(incident(narrative=narrative))
    if ok:
        assert found == {}
    else:
        size = len(narrative.encode())
        assert found == {"narrative": f"is {size} bytes, over the limit of 65536; shorten it"}


def _subjects(n: int) -> list[dict[str, str]]:
    return [{"subject_id": f"TJ-P-{i:06d}", "role": "SUBJECT"} for i in range(n)]


def test_two_hundred_subjects_pass_and_two_hundred_and_one_do_not() -> None:
    """The subject list limit, at its value and one past it."""
    assert len(validate_report(incident(subjects=_subjects(200)), now=NOW)["subjects"]) == 200
    assert problems(incident(subjects=_subjects(201))) == {
        "subjects": "has 201 items, over the limit of 200"
    }


def test_two_hundred_indicators_pass_and_two_hundred_and_one_do_not() -> None:
    """The indicator list limit, at its value and one past it."""
    many = [{"code": f"I-{i}"} for i in range(201)]
    assert len(validate_report(observation(indicators=many[:200]), now=NOW)["indicators"]) == 200
    assert problems(observation(indicators=many)) == {
        "indicators": "has 201 items, over the limit of 200"
    }


def test_reported_at_may_run_five_minutes_ahead_of_the_clock_not_more() -> None:
    """A unit's clock may run up to 5 minutes fast; later is the future. A report made long
    before now is fine: the allowance is only forward."""
    assert problems(incident(), now=REPORTED - timedelta(minutes=5)) == {}
    assert problems(incident(), now=REPORTED - timedelta(minutes=5, milliseconds=1)) == {
        "reported_at": "is in the future; check the unit's clock and time zone"
    }
    assert problems(incident(), now=REPORTED + timedelta(days=365)) == {}
    assert problems(incident(), now=REPORTED) == {}


def test_an_event_cannot_follow_its_report() -> None:
    """occurred_at equal to reported_at passes; a millisecond later is refused."""
    assert problems(incident(occurred_at="2026-11-20T16:40:00Z")) == {}
    assert problems(incident(occurred_at="2026-11-20T16:40:00.001Z")) == {
        "occurred_at": "is after reported_at; a report cannot precede its event"
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1_700_000_000, "must be an ISO 8601 time with a zone, e.g. 2026-11-20T14:05:00Z"),
        ("1969-12-31T23:59:59Z", "is before 1970"),
        ("2026-11-20T14:05:00", "needs a time zone, e.g. a trailing Z for UTC"),
        ("20 Nov 2026", "'20 Nov 2026' is not an ISO 8601 time, e.g. 2026-11-20T14:05:00Z"),
    ],
)
def test_a_time_of_the_wrong_type_or_before_1970_is_named(value: Any, reason: str) -> None:
    """A numeric timestamp, a time before 1970, a time without a zone and free text are each
    refused with what to write instead."""
    assert problems(incident(occurred_at=value)) == {"occurred_at": reason}


def test_1970_itself_is_accepted() -> None:
    """The first instant of 1970 is a valid time."""
    record = validate_report(incident(occurred_at="1970-01-01T00:00:00Z"), now=NOW)
    assert record["occurred_at"] == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"indicators": ["ERG-13"]}, "indicators[0]",
         "must be an object with code, and optionally framework and rating"),
        ({"indicators": [{"code": "x", "rating": "SEVERE"}]}, "indicators[0].rating",
         "'SEVERE' is not one of LOW, MODERATE, HIGH"),
        ({"indicators": [{"code": "x", "framework": 7}]}, "indicators[0].framework",
         "must be a string, not a number"),
        ({"indicators": [{"code": "x" * 65}]}, "indicators[0].code",
         "is 65 bytes, over the limit of 64; shorten it"),
        ({"indicators": [{"code": "x", "why": 1}]}, "indicators[0].'why'",
         "is not a field of an indicator; remove it"),
        ({"indicators": {"code": "x"}}, "indicators", "must be a list, not an object"),
        ({"indicators": []}, "indicators",
         "an observation must carry at least one indicator"),
    ],
)  # fmt: skip
def test_indicator_problems_are_named(change: dict[str, Any], field: str, reason: str) -> None:
    """A non-object indicator, and each bad part of one, is named with its position."""
    assert problems(observation(**change)) == {field: reason}


def test_an_indicator_reads_back_whole() -> None:
    """Code, framework and rating are kept; an absent framework or rating is null."""
    record = validate_report(
        observation(indicators=[{"code": "ERG-13", "framework": "ERG22+", "rating": "MODERATE"},
                                {"code": "isolation"}]),
        now=NOW,
    )  # fmt: skip
    assert record["indicators"] == [
        {"code": "ERG-13", "framework": "ERG22+", "rating": "MODERATE"},
        {"code": "isolation", "framework": None, "rating": None},
    ]


@pytest.mark.parametrize(
    ("subjects", "field", "reason"),
    [
        (["TJ-P-1"], "subjects[0]", "must be an object with subject_id and role"),
        ([{"subject_id": "TJ-P-1", "role": "GUARD"}], "subjects[0].role",
         "'GUARD' is not one of SUBJECT, VICTIM, ASSOCIATE, WITNESS, VISITOR, STAFF, OTHER"),
        ([{"subject_id": "TJ-P-1", "name": "x"}], "subjects[0].'name'",
         "is not a field of a subject; remove it"),
        ([{"subject_id": "TJ-P-1"}, {"subject_id": "TJ-P-1", "role": "SUBJECT"}], "subjects[1]",
         "repeats subject TJ-P-1 as SUBJECT"),
        ("TJ-P-1", "subjects", "must be a list, not a string"),
    ],
)  # fmt: skip
def test_subject_problems_are_named(subjects: Any, field: str, reason: str) -> None:
    """A non-object subject, an unknown role or field and a repeated subject are named."""
    assert problems(incident(subjects=subjects)) == {field: reason}


def test_a_subject_may_appear_in_two_roles_and_defaults_to_subject() -> None:
    """One person may be a subject and a witness; a subject without a role is a SUBJECT."""
    subjects = [{"subject_id": "TJ-P-1"}, {"subject_id": "TJ-P-1", "role": "WITNESS"}]
    record = validate_report(incident(subjects=subjects), now=NOW)
    assert record["subjects"] == [
        {"subject_id": "TJ-P-1", "role": "SUBJECT"},
        {"subject_id": "TJ-P-1", "role": "WITNESS"},
    ]
    assert validate_report(incident(subjects=None), now=NOW)["subjects"] == []


GRADING = {"source": 2, "assessment": "B", "handling": "P", "conditions": None}


@pytest.mark.parametrize(
    ("grading", "field", "reason"),
    [
        ("2BP", "grading", "must be an object with source, assessment and handling"),
        (GRADING | {"source": 4}, "grading.source",
         "4 is not 1 (reliable), 2 (untested) or 3 (not reliable)"),
        (GRADING | {"source": "1"}, "grading.source",
         "'1' is not 1 (reliable), 2 (untested) or 3 (not reliable)"),
        (GRADING | {"source": True}, "grading.source",
         "True is not 1 (reliable), 2 (untested) or 3 (not reliable)"),
        (GRADING | {"source": 0}, "grading.source",
         "0 is not 1 (reliable), 2 (untested) or 3 (not reliable)"),
        (GRADING | {"assessment": "F"}, "grading.assessment", "'F' is not one of A, B, C, D, E"),
        (GRADING | {"handling": "X"}, "grading.handling", "'X' is not one of P, C"),
        (GRADING | {"handling": "C"}, "grading.conditions",
         "is required when handling is C: say which conditions apply"),
        (GRADING | {"conditions": "x"}, "grading.conditions",
         "is given but handling is P; use handling C for conditions"),
        (GRADING | {"handling": "C", "conditions": "x" * 2001}, "grading.conditions",
         "is 2001 bytes, over the limit of 2000; shorten it"),
        (GRADING | {"grade": 1}, "grading.'grade'", "is not a field of the grading; remove it"),
        ({"assessment": "B", "handling": "P"}, "grading.source", "is required"),
        ({"source": 1, "handling": "P"}, "grading.assessment", "is required"),
        ({"source": 1, "assessment": "A"}, "grading.handling", "is required"),
    ],
)  # fmt: skip
def test_grading_problems_are_named(grading: Any, field: str, reason: str) -> None:
    """Each part of the 3x5x2 grading is checked and named."""
    assert problems(incident(grading=grading)) == {field: reason}


@pytest.mark.parametrize("source", [1, 2, 3])
def test_every_source_evaluation_reads_back(source: int) -> None:
    """Sources 1, 2 and 3 are each accepted as given."""
    record = validate_report(incident(grading=GRADING | {"source": source}), now=NOW)
    assert record["grading"]["source"] == source


def test_conditions_travel_with_handling_c() -> None:
    """Handling C keeps its conditions, up to 2000 bytes, new lines allowed."""
    conditions = "no onward sharing;\n" + "x" * (2000 - 19)
    grading = GRADING | {"handling": "C", "conditions": conditions}
    record = validate_report(incident(grading=grading), now=NOW)
    assert record["grading"] == {
        "source": 2, "assessment": "B", "handling": "C", "conditions": conditions,
    }  # fmt: skip


def test_the_record_is_what_the_codec_writes() -> None:
    """Enums become their values, TLP its Avro symbol, the event id lower case, times aware."""
    record = validate_report(
        incident(event_id="0B9F2A8E-6C1D-4E7A-9F3B-2D5C8A1E4F60", tlp="AMBER+STRICT"), now=NOW
    )
    assert record == {
        "event_id": "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60",
        "kind": "incident",
        "unit_id": "TJ-PIU-DUSHANBE",
        "facility_id": "TJ-F-001",
        "occurred_at": datetime(2026, 11, 20, 14, 5, tzinfo=UTC),
        "reported_at": REPORTED,
        "tlp": "AMBER_STRICT",
        "grading": GRADING,
        "category": "RECRUITMENT",
        "severity": "HIGH",
        "subjects": [{"subject_id": "TJ-P-004211", "role": "SUBJECT"}],
        "indicators": [],
        "narrative": "Inmate approached two younger prisoners in the exercise yard.",
    }
    assert all(type(v) in (str, int, dict, list, datetime) for v in record.values())


def test_required_fields_are_named_each() -> None:
    """An empty object names every required field, and an incident's severity."""
    assert problems({}) == {
        key: "is required"
        for key in ("event_id", "kind", "unit_id", "facility_id", "occurred_at", "reported_at",
                    "tlp", "grading", "category", "narrative")
    }  # fmt: skip
    assert problems(incident(severity=None)) == {"severity": "is required for an incident"}
    assert problems(incident(severity="SEVERE")) == {
        "severity": "'SEVERE' is not one of LOW, MEDIUM, HIGH, CRITICAL"
    }


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"event_id": 42}, "event_id", "42 is not a UUID written as 8-4-4-4-12 hexadecimal "
         "digits, e.g. 0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60"),
        ({"kind": "rumour"}, "kind", "'rumour' is not one of incident, observation"),
        ({"tlp": "WHITE"}, "tlp", "'WHITE' is not one of CLEAR, GREEN, AMBER, AMBER+STRICT, RED"),
        ({"category": 3}, "category", "3 is not one of RECRUITMENT, RADICALISATION_ACTIVITY, "
         "EXTREMIST_MATERIAL, VIOLENCE, THREAT, CONTRABAND, ILLICIT_COMMUNICATION, ESCAPE_RISK, "
         "STAFF_CORRUPTION, DISORDER, OTHER"),
        ({"unit_id": "a b"}, "unit_id", "'a b' is not 1-64 letters, digits, '.', '_' or '-', "
         "starting with a letter or digit"),
        ({"facility_id": ["x"]}, "facility_id", "must be a string, not a list"),
        ({"narrative": "  "}, "narrative", "must not be empty"),
        ({"severty": "HIGH"}, "'severty'", "is not a field of the report; did you mean severity?"),
    ],
)  # fmt: skip
def test_each_top_level_fault_is_worded(change: dict[str, Any], field: str, reason: str) -> None:
    """What a unit's analyst reads for each kind of fault."""
    assert problems(incident(**change)) == {field: reason}


@pytest.mark.parametrize(("value", "name"), [([], "list"), ("{}", "str"), (None, "NoneType")])
def test_a_report_that_is_not_an_object_is_named_as_such(value: Any, name: str) -> None:
    """The one problem of a non-object is the report itself, with its type."""
    assert problems(value) == {"report": f"must be a JSON object, not {name}"}


def test_the_label_names_the_report_in_the_message() -> None:
    """The label given (e.g. a file and line) is in the error's message."""
    with pytest.raises(ReportInvalidError, match=r"reports\.jsonl line 3"):
        validate_report({}, now=NOW, label="reports.jsonl line 3")


def test_tlp_symbols_and_ranks() -> None:
    """TLP labels in their order of restriction, AMBER+STRICT as Avro's AMBER_STRICT."""
    assert [t.rank() for t in Tlp] == [0, 1, 2, 3, 4]
    assert Tlp.AMBER_STRICT.symbol == "AMBER_STRICT"
    assert Tlp.from_symbol("AMBER_STRICT") is Tlp.AMBER_STRICT
    assert Tlp.from_symbol("AMBER+STRICT") is Tlp.AMBER_STRICT
    assert Tlp.RED.symbol == "RED"


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """The machine's time zone set to one far from UTC, restored after."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Dushanbe"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_format_time_is_utc_whatever_the_machines_zone(far_from_utc: None) -> None:
    """Times are written in UTC with a Z, milliseconds only when there are any, on a machine
    whose zone is not UTC, from a time given in yet another zone."""
    assert time.localtime(1_795_000_000).tm_gmtoff == 5 * 3600  # November 2026
    moment = datetime(2026, 11, 20, 19, 5, tzinfo=timezone(timedelta(hours=5)))
    assert format_time(moment) == "2026-11-20T14:05:00Z"
    assert format_time(moment + timedelta(microseconds=123_456)) == "2026-11-20T14:05:00.123Z"
    assert format_time(datetime(1970, 1, 1, tzinfo=UTC)) == "1970-01-01T00:00:00Z"


def test_report_to_json_is_the_inverse_of_validation(far_from_utc: None) -> None:
    """The JSON form gives back what the unit wrote (times in UTC, TLP as its label); the
    enrichment, when set, comes last with its time in ISO form."""
    written = incident(tlp="AMBER+STRICT", occurred_at="2026-11-20T19:05:00+05:00")
    record = validate_report(written, now=NOW)
    assert report_to_json(record) == written | {"occurred_at": "2026-11-20T14:05:00Z"}
    record["enrichment"] = {"country": "TJ", "received_at": NOW}
    assert report_to_json(record)["enrichment"] == {
        "country": "TJ",
        "received_at": "2026-11-26T12:00:00Z",
    }
    assert "enrichment" not in report_to_json(record | {"enrichment": None})


def test_every_subject_is_checked_after_a_bad_one() -> None:
    """A non-object, an invalid id and a repeat do not stop the check of the subjects after
    them: each problem is named at its position."""
    subjects = [
        "TJ-P-1",
        {"subject_id": "TJ-P-2"},
        {"subject_id": "bad id"},
        {"subject_id": "TJ-P-2"},
        {"subject_id": "also bad"},
    ]
    rule = "is not 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    assert problems(incident(subjects=subjects)) == {
        "subjects[0]": "must be an object with subject_id and role",
        "subjects[2].subject_id": f"'bad id' {rule}",
        "subjects[3]": "repeats subject TJ-P-2 as SUBJECT",
        "subjects[4].subject_id": f"'also bad' {rule}",
    }


def test_each_missing_field_is_named_once() -> None:
    """A missing field is one problem, not one per check it would have gone through."""
    with pytest.raises(ReportInvalidError) as caught:
        validate_report({}, now=NOW)
    fields = [p.field for p in caught.value.problems]
    assert len(fields) == len(set(fields)) == 10
    assert str(caught.value).startswith("report rejected: event_id: is required; kind: ")


def test_a_non_object_report_is_refused_under_its_label() -> None:
    """The label names the input in the message of a non-object too."""
    with pytest.raises(ReportInvalidError) as caught:
        validate_report([], now=NOW, label="reports.json item 2")
    assert (
        str(caught.value) == "reports.json item 2 rejected: report: must be a JSON object, not list"
    )


def test_every_indicator_is_checked_after_a_bad_one() -> None:
    """A non-object indicator does not stop the check of those after it."""
    indicators = ["ERG-13", {"code": "x", "rating": "SEVERE"}]
    assert problems(observation(indicators=indicators)) == {
        "indicators[0]": "must be an object with code, and optionally framework and rating",
        "indicators[1].rating": "'SEVERE' is not one of LOW, MODERATE, HIGH",
    }


def test_an_indicator_framework_is_64_bytes_at_most() -> None:
    """64 bytes of framework name pass (in multi-byte letters too); 65 do not."""
    record = validate_report(
        observation(indicators=[{"code": "x", "framework": "ж" * 32}]), now=NOW
    )
    assert record["indicators"][0]["framework"] == "ж" * 32
    assert problems(observation(indicators=[{"code": "x", "framework": "ж" * 32 + "x"}])) == {
        "indicators[0].framework": "is 65 bytes, over the limit of 64; shorten it"
    }


def test_a_narrative_may_run_over_several_lines() -> None:
    """New lines and tabs are allowed in the narrative; other control characters are not."""
    narrative = "First line.\n\tSecond line.\r\nThird."
    assert validate_report(incident(narrative=narrative), now=NOW)["narrative"] == narrative
    assert problems(incident(narrative="bell\x07")) == {
        "narrative": "holds a control character or invalid Unicode (U+0007) at character 5; "
        "remove it"
    }


def test_a_rejection_points_at_the_character_not_the_byte_in_any_script() -> None:
    """In Kurdish, Russian or Tajik text the position is counted in characters, as an editor
    shows it, not in UTF-8 bytes (each of these letters is two bytes)."""
    for text in ("ڕۆێڵ\u202eکورد", "Жизнь\x00", "ғӣқӯҳҷ\x1b"):
        where = next(i for i, c in enumerate(text) if c in "\u202e\x00\x1b") + 1
        reason = problems(incident(narrative=text))["narrative"]
        assert f"at character {where};" in reason, reason


def test_the_narrative_limit_is_64_kib_in_utf8_bytes_not_characters() -> None:
    """65,536 bytes is the limit: 32,768 two-byte Cyrillic letters pass, one more does not,
    though 32,769 characters is far under 65,536 characters."""
    assert validate_report(incident(narrative="ж" * 32_768), now=NOW)["narrative"]
    assert problems(incident(narrative="ж" * 32_769)) == {
        "narrative": "is 65538 bytes, over the limit of 65536; shorten it"
    }
