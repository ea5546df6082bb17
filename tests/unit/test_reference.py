"""Reference data lines: each type becomes its topic's record; every fault names the field."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

import pytest

from streams.core import crypto
from streams.core.codec import Codec
from streams.core.reference import ReferenceRecord, parse_reference_line, read_reference_lines
from streams.core.schemas import SchemaSet
from streams.errors import ReferenceInvalidError
from streams.settings import PROJECT_ROOT
from tests.factories import NOW

SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")
RAW_KEY = bytes(range(1, 33))
KEY = base64.b64encode(RAW_KEY).decode()


def facility(**overrides: Any) -> dict[str, Any]:
    line = {
        "type": "facility",
        "facility_id": "TJ-F-001",
        "country": "TJ",
        "name": "Correctional Colony 1 (Dushanbe)",
        "security_level": "maximum",
    }
    return line | overrides


def subject(**overrides: Any) -> dict[str, Any]:
    line = {
        "type": "subject",
        "subject_id": "TJ-P-004211",
        "risk_level": "HIGH",
        "rftf": True,
        "violent_extremist": True,
    }
    return line | overrides


def agency(**overrides: Any) -> dict[str, Any]:
    line = {
        "type": "agency",
        "agency_id": "tj-gkns",
        "name": "State Committee for National Security of Tajikistan",
        "country": "TJ",
        "public_key": KEY,
    }
    return line | overrides


def rejection(obj: object) -> str:
    with pytest.raises(ReferenceInvalidError) as caught:
        parse_reference_line(obj, "line 7", NOW)
    return str(caught.value)


def roundtrip(ref: ReferenceRecord) -> dict[str, Any]:
    codec = Codec(SCHEMAS, ref.schema_name)
    return codec.decode(codec.encode(ref.record))


def test_facility_line_becomes_a_facility_record() -> None:
    """A facility line gives the Facility record, keyed by its id, for intel.ref.facilities."""
    ref = parse_reference_line(facility(), "line 1", NOW)
    assert ref == ReferenceRecord(
        "facility",
        "TJ-F-001",
        {
            "facility_id": "TJ-F-001",
            "country": "TJ",
            "name": "Correctional Colony 1 (Dushanbe)",
            "security_level": "maximum",
        },
        "intel.ref.facilities",
        "intelshare.Facility",
    )
    assert roundtrip(ref) == ref.record


def test_subject_line_becomes_a_subject_record() -> None:
    """A subject line gives the Subject record, keyed by its id, for intel.ref.subjects."""
    ref = parse_reference_line(subject(), "line 1", NOW)
    assert (ref.kind, ref.key, ref.topic, ref.schema_name) == (
        "subject",
        "TJ-P-004211",
        "intel.ref.subjects",
        "intelshare.Subject",
    )
    assert roundtrip(ref) == ref.record


def test_subject_without_violent_extremist_defaults_to_false() -> None:
    """violent_extremist may be left out; the record says false."""
    line = subject(rftf=False)
    del line["violent_extremist"]
    assert parse_reference_line(line, "line 1", NOW).record["violent_extremist"] is False


def test_agency_line_becomes_an_agency_record_with_key_id_and_time() -> None:
    """An agency line gives the raw key, its key id (16 hex of SHA-256) and now as registered_at."""
    ref = parse_reference_line(agency(), "line 1", NOW)
    assert (ref.kind, ref.key, ref.topic, ref.schema_name) == (
        "agency",
        "tj-gkns",
        "intel.ref.agencies",
        "intelshare.Agency",
    )
    assert ref.record["public_key"] == RAW_KEY
    assert ref.record["key_id"] == hashlib.sha256(RAW_KEY).hexdigest()[:16]
    assert ref.record["registered_at"] == NOW
    assert roundtrip(ref) == ref.record


@pytest.mark.parametrize(
    "raw",
    [RAW_KEY, bytes(range(32, 64)), b"\xff" * 32, bytes(31) + b"\x01"],
    ids=["counting", "second-range", "all-ff", "one-bit"],
)
def test_key_id_agrees_with_the_crypto_module(raw: bytes) -> None:
    """An agency record's key_id is what streams.core.crypto.key_id gives for its raw key."""
    line = agency(public_key=base64.b64encode(raw).decode())
    ref = parse_reference_line(line, "line 1", NOW)
    assert ref.record["public_key"] == raw
    assert ref.record["key_id"] == crypto.key_id(raw)


def test_agency_country_may_be_null_or_absent() -> None:
    """An international agency has no country: null or a missing field both give null."""
    line = agency()
    del line["country"]
    assert parse_reference_line(line, "line 1", NOW).record["country"] is None
    assert parse_reference_line(agency(country=None), "line 1", NOW).record["country"] is None


def test_any_two_letter_country_is_accepted() -> None:
    """Countries outside the programme's four are accepted as ISO alpha-2 codes."""
    assert parse_reference_line(facility(country="UZ"), "l", NOW).record["country"] == "UZ"


def test_message_names_the_label_and_every_field() -> None:
    """All problems of a line come in one message: 'LABEL: field: reason; field: reason'."""
    message = rejection(facility(facility_id="", country="tj", name=None))
    assert message.startswith("line 7: facility_id: ")
    assert "; country: " in message
    assert "; name: is required" in message


@pytest.mark.parametrize(
    ("line", "field"),
    [
        pytest.param(facility(facility_id=None), "facility_id", id="facility-missing-id"),
        pytest.param(subject(subject_id=None), "subject_id", id="subject-missing-id"),
        pytest.param(agency(agency_id=None), "agency_id", id="agency-missing-id"),
        pytest.param(facility(facility_id="-F-001"), "facility_id", id="id-starts-with-dash"),
        pytest.param(facility(facility_id="TJ F/../1"), "facility_id", id="id-with-slash"),
        pytest.param(subject(subject_id="P" * 65), "subject_id", id="id-too-long"),
        pytest.param(agency(agency_id="TJ-GKNS"), "agency_id", id="agency-id-upper-case"),
        pytest.param(agency(agency_id="tj_gkns"), "agency_id", id="agency-id-underscore"),
        pytest.param(agency(agency_id="a" * 64), "agency_id", id="agency-id-too-long"),
        pytest.param(facility(country="Tajikistan"), "country", id="country-name"),
        pytest.param(facility(country="tj"), "country", id="country-lower-case"),
        pytest.param(facility(country="TJK"), "country", id="country-alpha-3"),
        pytest.param(agency(country="K1"), "country", id="agency-country-digit"),
        pytest.param(subject(risk_level="EXTREME"), "risk_level", id="risk-unknown"),
        pytest.param(subject(risk_level="high"), "risk_level", id="risk-lower-case"),
        pytest.param(facility(name="   "), "name", id="name-blank"),
        pytest.param(facility(name="Colony\n1"), "name", id="name-control-character"),
        pytest.param(facility(name="\u202eynoloC"), "name", id="name-bidi-override"),
        pytest.param(facility(name="\ud800"), "name", id="name-lone-surrogate"),
        pytest.param(facility(security_level=""), "security_level", id="level-empty"),
        pytest.param(facility(security_level="banana"), "security_level", id="level-unknown"),
        pytest.param(facility(security_level="x" * 10_000), "security_level", id="level-huge"),
        pytest.param(facility(security_level=3), "security_level", id="level-number"),
    ],
)
def test_malformed_fields_are_named(line: dict[str, Any], field: str) -> None:
    """A missing or malformed field is rejected naming that field."""
    assert f"line 7: {field}: " in rejection(line)


def test_31_byte_key_is_rejected() -> None:
    """A public key one byte short is refused, saying how many bytes it decodes to."""
    message = rejection(agency(public_key=base64.b64encode(RAW_KEY[:31]).decode()))
    assert "public_key: decodes to 31 bytes" in message


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("not base64!!", id="not-base64"),
        pytest.param(KEY[:-1], id="bad-padding"),
        pytest.param(base64.urlsafe_b64encode(b"\xff" * 32).decode(), id="url-safe-alphabet"),
        pytest.param(" " + KEY, id="whitespace"),
        pytest.param(RAW_KEY.hex(), id="hex-not-base64"),
    ],
)
def test_non_base64_key_is_rejected(key: str) -> None:
    """A public key that is not standard base64 of 32 bytes is refused naming public_key."""
    assert "line 7: public_key: " in rejection(agency(public_key=key))


def test_all_zero_key_is_rejected() -> None:
    """32 zero bytes are not a public key."""
    assert "public_key: is all zero" in rejection(
        agency(public_key=base64.b64encode(bytes(32)).decode())
    )


def test_huge_key_is_refused_without_decoding() -> None:
    """A megabyte of base64 is refused by its length, and the message stays short."""
    message = rejection(agency(public_key="A" * 1_000_000))
    assert "public_key: is 1000000 characters" in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("line", "field"),
    [
        pytest.param(facility(name="x" * 1_000_000), "name", id="name"),
        pytest.param(facility(security_level="x" * 41), "security_level", id="security-level"),
        pytest.param(agency(name="x" * 201), "name", id="agency-name"),
        pytest.param(facility(facility_id="F" * 1_000_000), "facility_id", id="facility-id"),
    ],
)
def test_huge_strings_are_refused_with_a_short_message(line: dict[str, Any], field: str) -> None:
    """Over-long text is refused naming the field, without echoing the text."""
    message = rejection(line)
    assert f"{field}: " in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        pytest.param(facility(name=5), "name", "must be a string, not a number", id="name-int"),
        pytest.param(facility(country=["TJ"]), "country", "not a list", id="country-list"),
        pytest.param(subject(rftf="yes"), "rftf", "not a string", id="rftf-string"),
        pytest.param(subject(rftf=1), "rftf", "not a number", id="rftf-int"),
        pytest.param(subject(rftf=None), "rftf", "is required", id="rftf-null"),
        pytest.param(subject(violent_extremist={}), "violent_extremist", "not an object", id="ve"),
        pytest.param(agency(public_key=32), "public_key", "not a number", id="key-int"),
        pytest.param(subject(subject_id=4211), "subject_id", "not a number", id="id-int"),
        pytest.param(agency(agency_id=True), "agency_id", "not a boolean", id="id-bool"),
    ],
)
def test_wrong_json_types_are_named(line: dict[str, Any], field: str, reason: str) -> None:
    """A value of the wrong JSON type is refused naming the field and the type it has."""
    message = rejection(line)
    assert f"{field}: " in message
    assert reason in message


def test_missing_rftf_is_required() -> None:
    """rftf has no default: a subject line must say whether the person is an RFTF."""
    line = subject()
    del line["rftf"]
    assert "rftf: is required" in rejection(line)


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        pytest.param({"type": "prison"}, "type: 'prison' is not one of facility", id="unknown"),
        pytest.param({"type": "FACILITY"}, "type: 'FACILITY' is not one of", id="upper-case"),
        pytest.param(
            {"facility_id": "TJ-F-001"},
            "type: is required: facility, subject or agency",
            id="missing",
        ),
        pytest.param({"type": ["facility"]}, "type: ['facility'] is not one of", id="list"),
        pytest.param(["facility"], "record: must be a JSON object, not a list", id="not-object"),
        pytest.param("facility", "record: must be a JSON object, not a string", id="string"),
        pytest.param(None, "record: must be a JSON object, not null", id="null"),
    ],
)
def test_unknown_or_missing_type_is_refused(obj: object, reason: str) -> None:
    """A line that is not an object, or whose type is not facility/subject/agency, is refused."""
    assert rejection(obj).startswith(f"line 7: {reason}")


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        pytest.param(facility(colour="grey"), "'colour'", "not a field of a facility", id="extra"),
        pytest.param(subject(name="A. Person"), "'name'", "not a field of a subject", id="name"),
        pytest.param(agency(key_id="abc"), "'key_id'", "is computed from public_key", id="key_id"),
        pytest.param(agency(registered_at="x"), "'registered_at'", "is set when", id="time"),
        pytest.param(facility(**{"x" * 500: 1}), "'xxxx", "not a field", id="huge-name"),
        pytest.param(facility(key_id="x"), "'key_id'", "not a field of a facility", id="key-id"),
    ],
)
def test_unknown_fields_are_refused(line: dict[str, Any], field: str, reason: str) -> None:
    """A field the type does not have is refused by name (shortened), not silently dropped."""
    message = rejection(line)
    assert f"line 7: {field}" in message
    assert reason in message
    assert len(message) < 200


def test_naive_now_is_a_programming_error() -> None:
    """now without a time zone is refused before any line is looked at."""
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_reference_line(agency(), "line 1", datetime(2026, 11, 26))


def test_lines_are_parsed_and_broken_ones_named_by_number() -> None:
    """Each non-blank line is parsed; a broken line is reported by its number, the rest go on."""
    text = "\n".join(
        [
            json.dumps(facility()),
            "",
            '{"type": "subject", "subject_id": ',
            json.dumps(subject()),
            "[1, 2",
        ]
    )
    got = list(read_reference_lines(text))
    assert [(label, problem is None) for label, _, problem in got] == [
        ("line 1", True),
        ("line 3", False),
        ("line 4", True),
        ("line 5", False),
    ]
    assert got[0][1] == facility()
    assert got[1][1] is None
    assert got[1][2] is not None
    assert got[1][2].startswith("not valid JSON: ")


def test_duplicate_keys_are_a_problem() -> None:
    """An object repeating a key is refused (JSON would silently keep the last one)."""
    [(label, obj, problem)] = read_reference_lines('{"type": "facility", "type": "agency"}')
    assert (label, obj) == ("line 1", None)
    assert problem == "key 'type' appears twice in one object"


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    """Thousands of nested brackets give a problem, not a RecursionError."""
    [(_, obj, problem)] = read_reference_lines("[" * 50_000 + "]" * 50_000)
    assert obj is None
    assert problem is not None


def test_over_long_line_is_refused_before_parsing() -> None:
    """A line over 64 KiB is refused by its length."""
    [(_, obj, problem)] = read_reference_lines(json.dumps(facility(name="x" * 70_000)))
    assert obj is None
    assert problem is not None
    assert "over the limit of 65536" in problem


def test_byte_order_mark_and_crlf_are_tolerated() -> None:
    """A file saved with a BOM and Windows line ends still parses line by line."""
    text = "\ufeff" + json.dumps(facility()) + "\r\n" + json.dumps(subject()) + "\r\n"
    assert [problem for _, _, problem in read_reference_lines(text)] == [None, None]


@pytest.mark.parametrize(
    ("written", "read"),
    [("maximum", "maximum"), ("High", "high"), ("Maximum security", "maximum"),
     (" medium ", "medium"), ("special", "special")],
)  # fmt: skip
def test_security_level_is_one_of_the_classes_whatever_its_case(written: str, read: str) -> None:
    """A facility's security level is one of minimum, medium, high, maximum or special, read
    case-insensitively, " security" allowed after it; an unknown one lists the classes."""
    assert (
        parse_reference_line(facility(security_level=written), "l", NOW).record["security_level"]
        == read
    )
    assert "use one of minimum, medium, high, maximum, special" in rejection(
        facility(security_level="closed")
    )
