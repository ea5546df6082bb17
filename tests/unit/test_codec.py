"""The Avro single-object codec: round trips, schema resolution and every kind of bad bytes."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from streams.core.codec import MAGIC, Codec
from streams.core.report import report_to_json, validate_report
from streams.core.schemas import SchemaSet
from streams.errors import (
    DecodeError,
    NotSingleObjectError,
    TruncatedRecordError,
    UnknownSchemaError,
)
from streams.settings import PROJECT_ROOT
from tests.factories import NOW, incident, observation

SCHEMAS = PROJECT_ROOT / "schemas"


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(SchemaSet.from_directory(SCHEMAS), "intelshare.Report")


@pytest.mark.parametrize("make", [incident, observation], ids=["incident", "observation"])
def test_round_trip_gives_back_the_submitted_report(codec: Codec, make: object) -> None:
    """Encoding then decoding a report of each kind returns the same JSON form."""
    report = make()  # type: ignore[operator]
    decoded = codec.decode(codec.encode(validate_report(report, now=NOW)))
    assert report_to_json(decoded) == report


def test_value_starts_with_marker_and_writer_fingerprint(codec: Codec) -> None:
    """The wire form is C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint, the body."""
    value = codec.encode(validate_report(incident(), now=NOW))
    assert value[:2] == MAGIC
    assert value[2:10] == codec.reader.fingerprint


def test_fingerprint_matches_avro_specification_vector() -> None:
    """CRC-64-AVRO of the schema "null" is 0x63dd24e7cc258f8a, written little-endian."""
    import fastavro.schema

    digest = fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form("null"), "CRC-64-AVRO"
    )
    assert bytes.fromhex(digest) == (0x63DD24E7CC258F8A).to_bytes(8, "little")


@pytest.fixture
def evolved(tmp_path: Path) -> SchemaSet:
    """The released schemas plus a next report version that adds a field with a default."""
    for path in SCHEMAS.glob("*.avsc"):
        shutil.copy(path, tmp_path)
    latest = SchemaSet.from_directory(SCHEMAS).latest("intelshare.Report")
    raw = json.loads(json.dumps(latest.raw))
    raw["fields"].append({"name": "language", "type": "string", "default": "und"})
    (tmp_path / f"report.v{latest.version + 1}.avsc").write_text(json.dumps(raw))
    return SchemaSet.from_directory(tmp_path)


def test_old_reader_reads_new_writer(evolved: SchemaSet) -> None:
    """A reader pinned to v1 reads a newest-version record, dropping fields it does not know."""
    record = validate_report(incident(), now=NOW) | {"language": "tg", "enrichment": None}
    value = Codec(evolved, "intelshare.Report").encode(record)
    decoded = Codec(evolved, "intelshare.Report", version=1).decode(value)
    assert "language" not in decoded
    assert decoded["event_id"] == record["event_id"]


def test_new_reader_reads_old_writer(evolved: SchemaSet) -> None:
    """The newest reader fills the new fields' defaults into a v1 record."""
    value = Codec(evolved, "intelshare.Report", version=1).encode(
        validate_report(incident(), now=NOW)
    )
    assert Codec(evolved, "intelshare.Report").decode(value)["language"] == "und"


def test_unknown_fingerprint_is_named(codec: Codec) -> None:
    """A writer schema that is not in schemas/ is an UnknownSchemaError naming the fingerprint."""
    value = bytearray(codec.encode(validate_report(incident(), now=NOW)))
    value[2:10] = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    with pytest.raises(UnknownSchemaError, match="0102030405060708"):
        codec.decode(bytes(value))


def test_record_of_another_type_is_refused(codec: Codec) -> None:
    """Bytes of a known schema of another record type are not read as a report."""
    schemas = codec.schemas
    dead = Codec(schemas, "intelshare.DeadLetter").encode(
        {
            "original_value": b"x",
            "original_key": None,
            "source_topic": "t",
            "source_partition": 0,
            "source_offset": 1,
            "error": "E",
            "reason": "r",
            "failed_at": NOW,
            "attempts": 1,
        }
    )
    with pytest.raises(UnknownSchemaError, match="DeadLetter"):
        codec.decode(dead)


def test_every_truncation_is_a_decode_error(codec: Codec) -> None:
    """Cutting a value anywhere gives a named DecodeError, never a wrong record."""
    value = codec.encode(validate_report(observation(), now=NOW))
    for cut in range(len(value)):
        with pytest.raises(DecodeError):
            codec.decode(value[:cut])


def test_header_cut_short_is_not_single_object(codec: Codec) -> None:
    """Fewer than 10 bytes, or a wrong marker, is a NotSingleObjectError."""
    with pytest.raises(NotSingleObjectError):
        codec.decode(MAGIC + b"\x00\x01")
    with pytest.raises(NotSingleObjectError):
        codec.decode(b'{"event_id": "json, not avro"}')


def test_trailing_bytes_are_refused(codec: Codec) -> None:
    """Bytes left over after the record mean the value is not what the writer sent."""
    value = codec.encode(validate_report(incident(), now=NOW))
    with pytest.raises(TruncatedRecordError, match="left over"):
        codec.decode(value + b"\x00")


def test_random_bodies_only_raise_decode_errors(codec: Codec) -> None:
    """Hostile bytes behind a valid header raise DecodeError and nothing else."""
    rng = random.Random(20261126)
    header = MAGIC + codec.reader.fingerprint
    for _ in range(3000):
        body = rng.randbytes(rng.randrange(0, 300))
        with pytest.raises(DecodeError):
            codec.decode(header + body)


def test_random_bytes_without_header_are_refused(codec: Codec) -> None:
    """Arbitrary bytes are refused at the header with a named error."""
    rng = random.Random(7)
    for _ in range(500):
        data = rng.randbytes(rng.randrange(0, 64))
        with pytest.raises(DecodeError):
            codec.decode(data)
