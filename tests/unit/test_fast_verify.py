"""The fast paths of `audit verify` (issue 15) give exactly what the plain ones gave: the same
canonical bytes and record hashes (every existing log must still verify), the same decoded
records and the same decode errors, and a whole-topic read that stops at the ends it took."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest

from streams.audit.chain import record_hash, seal_record
from streams.core.canonical import canonical
from streams.core.codec import Codec
from streams.errors import DecodeError, NotSingleObjectError, TruncatedRecordError
from streams.kafka.logread import Ends
from tests.unit.test_chain import KEY, KID, NOW, SCHEMAS, pending


class _Text(str):
    __slots__ = ()


class _Bytes(bytes):
    __slots__ = ()


# The bytes below were computed by the encoder and hash before issue 15's fast paths (main at
# 32c5349): a change here would make every existing log fail to verify.
_VALUES = [
    "é", b"\x00\x01", None, True, False, 0, -5, 2**70, _Text("x"), _Bytes(b"y"),
    (1, "a", [b"z", None]), [],
    datetime(2020, 1, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=3))),
]  # fmt: skip
_ENCODED = (
    "5300000002c3a9590000000200014e42000000010142000000010049000000013049000000022d35490000"
    "0016313138303539313632303731373431313330333432345300000001785900000001794c000000034900"
    "000001315300000001614c0000000259000000017a4e4c00000000540000000d31353737383639323030313233"
)
_RECORD = {
    "sequence": 7, "disclosure_id": "d-7", "event_id": "e", "agreement_id": "KZ-KNB-2026-01",
    "agreement_version": 2, "recipient": "kz-knb", "purpose": "p", "legal_basis": "l",
    "fields_disclosed": ["event_id", "subjects"], "subjects": ["ps-abc"],
    "payload_sha256": bytes(32), "disclosure_sha256": b"",
    "disclosed_at": datetime(2026, 11, 3, 9, 14, 3, 512000, tzinfo=UTC),
    "recorded_at": datetime(2026, 11, 3, 9, 14, 4, tzinfo=UTC),
    "prev_hash": bytes(range(32)), "key_id": "k1",
}  # fmt: skip


def test_canonical_bytes_are_those_of_before_the_fast_path() -> None:
    """Every type the encoder takes, subclasses and nesting included, encodes to the bytes the
    previous encoder gave."""
    assert canonical(*_VALUES).hex() == _ENCODED


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "7c4e7ce1809eb57a9d1fb5e5f7f04b10b22a49d8ae29f9825516080ad2225a50"),
        (
            {"subject_links": ["sl-1"]},
            "fee3526a2c25b2ad3bfcb788e864e5f14358f0ca8cf383e5509bb3b635511f3b",
        ),
        (
            {"kind": "feedback", "refers_to": "d-1", "useful": False},
            "8145f99c1d9e24cef9f0ac08666550db6effc3393d1c2cb05714ede165069d34",
        ),
    ],
    ids=["v2", "v3-links", "v4-feedback"],
)
def test_record_hashes_are_those_of_before_the_fast_path(
    extra: dict[str, Any], expected: str
) -> None:
    """A plain disclosure, one with subject links and a v4 notice hash as they always did."""
    assert record_hash({**_RECORD, **extra}).hex() == expected


@pytest.mark.parametrize("value", [datetime(2026, 1, 1), 1.5, bytearray(b"x"), {"a": 1}])
def test_what_cannot_be_encoded_is_still_refused(value: object) -> None:
    """A naive datetime, a float, a bytearray or a mapping is a TypeError, never some bytes."""
    with pytest.raises(TypeError):
        canonical("a", [value])


@pytest.fixture(scope="module")
def audit_codec() -> Codec:
    return Codec(SCHEMAS, "intelshare.AuditRecord")


def _sealed(count: int) -> list[dict[str, Any]]:
    records, prev = [], bytes(32)
    for i in range(count):
        record = seal_record(
            pending(i), sequence=i, prev_hash=prev, key_id=KID, signing_key=KEY, now=NOW
        )
        records.append(record)
        prev = record["hash"]
    return records


def test_decode_all_gives_what_decode_gives(audit_codec: Codec) -> None:
    """Records of the newest version and of an older one decode alike one by one and in bulk."""
    older = Codec(SCHEMAS, "intelshare.AuditRecord", version=3)
    records = _sealed(5)
    values = [audit_codec.encode(r) for r in records[:3]]
    values += [older.encode({k: v for k, v in r.items() if k in _V3}) for r in records[3:]]
    assert audit_codec.decode_all(values) == [audit_codec.decode(v) for v in values]


_V3 = {f["name"] for f in Codec(SCHEMAS, "intelshare.AuditRecord", version=3).reader.raw["fields"]}


def test_decode_all_refuses_bad_values_with_decode_s_errors(audit_codec: Codec) -> None:
    """A truncated value, trailing bytes, a tombstone, a bare header, a time no datetime holds
    or hostile bodies among sound values raise the error decode raises, never a record."""
    good = audit_codec.encode(_sealed(1)[0])
    cases: list[tuple[bytes | None, type[Exception]]] = [
        (good[:-3], DecodeError),
        (good + b"\x00", TruncatedRecordError),
        (None, NotSingleObjectError),
        (good[:10], DecodeError),
    ]
    for bad, error in cases:
        with pytest.raises(error):
            audit_codec.decode_all([good, bad, good])
    far = {**_sealed(1)[0]}
    far["disclosed_at"], far["recorded_at"] = 0, 2**62  # no datetime holds 2**62 ms
    body = io.BytesIO()
    fastavro.schemaless_writer(body, audit_codec._bare, far)
    with pytest.raises(DecodeError):
        audit_codec.decode(good[:10] + body.getvalue())
    with pytest.raises(DecodeError):
        audit_codec.decode_all([good, good[:10] + body.getvalue()])
    rng = random.Random(15)
    for _ in range(300):
        with pytest.raises(DecodeError):
            audit_codec.decode_all([good[:10] + rng.randbytes(rng.randrange(0, 200))])


def test_a_read_stops_at_the_ends_taken_before_it() -> None:
    """Messages up to each partition's end are wanted, later ones are not; an empty partition
    is done at once; the end-of-partition event or the consumer's position past transaction
    markers closes a partition whose last offsets held no record."""
    ends = Ends({0: 3, 1: 0, 2: 5})
    assert ends.pending == [0, 2]
    assert [ends.wanted(0, o) for o in (0, 1)] == [True, True]
    assert not ends.done
    assert ends.wanted(0, 2)
    assert ends.pending == [2]
    assert not ends.wanted(0, 3)  # written after the read began
    assert ends.wanted(2, 2)
    ends.reached(2, 4)  # a position short of the end leaves it open
    assert ends.pending == [2]
    ends.reached(2, 5)  # past the commit marker at offset 4
    assert ends.done
    assert not ends.wanted(2, 5)
    assert not ends.wanted(7, 0)  # a partition never asked for
