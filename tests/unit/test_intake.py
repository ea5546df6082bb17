"""Intake decisions: valid submissions pass, everything else is a named dead letter."""

from __future__ import annotations

import pytest

from streams.core.codec import Codec
from streams.core.intake import Origin, check_submission, dead_letter_record
from streams.core.report import validate_report
from streams.core.schemas import SchemaSet
from streams.errors import DecodeError, IntelshareError, ReportInvalidError, UnknownSchemaError
from streams.settings import PROJECT_ROOT
from tests.factories import NOW, incident

SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")
REPORTS = Codec(SCHEMAS, "intelshare.Report")


def encoded(**overrides: object) -> tuple[bytes, bytes]:
    record = validate_report(incident(**overrides), now=NOW)
    return REPORTS.encode(record), record["event_id"].encode()


def test_valid_submission_passes() -> None:
    """A well-formed report keyed by its event id is accepted as it is."""
    value, key = encoded()
    assert check_submission(value, key, REPORTS, NOW)["event_id"] == key.decode()


def test_random_bytes_are_a_decode_error() -> None:
    """Bytes that are not Avro are a dead letter, not a crash."""
    with pytest.raises(DecodeError):
        check_submission(b"\x00garbage", None, REPORTS, NOW)


def test_tombstone_is_a_decode_error() -> None:
    """A message with no value is a dead letter."""
    with pytest.raises(DecodeError):
        check_submission(None, b"k", REPORTS, NOW)


def test_other_record_type_is_refused() -> None:
    """An Avro record of another type is an UnknownSchemaError."""
    dead = Codec(SCHEMAS, "intelshare.DeadLetter")
    origin = Origin("t", 0, 0, None)
    value = dead.encode(dead_letter_record(b"", origin, DecodeError("x"), NOW))
    with pytest.raises(UnknownSchemaError):
        check_submission(value, None, REPORTS, NOW)


def test_occurred_after_reported_is_refused_even_when_encoded() -> None:
    """A producer that bypasses submit still meets the validation rules."""
    record = validate_report(incident(), now=NOW)
    record["occurred_at"], record["reported_at"] = record["reported_at"], record["occurred_at"]
    with pytest.raises(ReportInvalidError, match="occurred_at"):
        check_submission(REPORTS.encode(record), None, REPORTS, NOW)


def test_enrichment_from_a_unit_is_refused() -> None:
    """Only the exchange sets enrichment."""
    record = validate_report(incident(), now=NOW) | {
        "enrichment": {
            "country": "TJ",
            "facility_name": "x",
            "security_level": "high",
            "subjects": [],
            "duplicate_of": None,
            "correlated_with": [],
            "received_at": NOW,
        }
    }
    with pytest.raises(ReportInvalidError, match="enrichment"):
        check_submission(REPORTS.encode(record), None, REPORTS, NOW)


def test_key_must_be_the_event_id() -> None:
    """A message keyed by something else is refused, so partitioning by event id holds."""
    value, _ = encoded()
    with pytest.raises(ReportInvalidError, match="message key"):
        check_submission(value, b"other", REPORTS, NOW)


def test_dead_letter_keeps_bytes_reason_and_origin() -> None:
    """The dead letter holds the original bytes, the error, and topic/partition/offset."""
    error: IntelshareError = DecodeError("broken")
    letter = dead_letter_record(b"\x01\x02", Origin("intel.submissions", 2, 41, b"k"), error, NOW)
    decoded = Codec(SCHEMAS, "intelshare.DeadLetter").decode(
        Codec(SCHEMAS, "intelshare.DeadLetter").encode(letter)
    )
    assert decoded["original_value"] == b"\x01\x02"
    assert (decoded["source_partition"], decoded["source_offset"]) == (2, 41)
    assert decoded["error"] == "DecodeError"
    assert decoded["reason"] == "broken"
