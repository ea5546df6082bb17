"""The audit chain detects a changed, removed, reordered or inserted record, by sequence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import (
    GENESIS,
    HASHED_FIELDS,
    ChainVerifier,
    record_hash,
    seal_record,
    verify_chain,
)
from streams.core.codec import Codec
from streams.core.crypto import key_id
from streams.core.schemas import SchemaSet
from streams.errors import ChainBrokenError
from streams.settings import PROJECT_ROOT
from tests.factories import NOW

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key().public_bytes_raw())
KEYS = {KID: KEY.public_key()}
FORGER = Ed25519PrivateKey.generate()
SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")


def pending(i: int) -> dict[str, Any]:
    """A pending audit entry as the route step writes it, for disclosure ``d-i``."""
    return {
        "sequence": -1, "disclosure_id": f"d-{i}", "event_id": f"e-{i}", "agreement_id": "A",
        "agreement_version": 1, "recipient": "kz-knb", "purpose": "p", "legal_basis": "l",
        "fields_disclosed": ["event_id"], "subjects": ["ps-x"], "payload_sha256": bytes(32),
        "disclosure_sha256": bytes(32),
        "disclosed_at": NOW, "recorded_at": NOW, "prev_hash": b"", "hash": b"", "key_id": "",
        "signature": b"", "subject_links": ["sl-x"], "kind": "disclosure", "refers_to": None,
        "reason": None, "useful": None,
    }  # fmt: skip


def link(
    i: int, sequence: int, prev_hash: bytes, key: Ed25519PrivateKey = KEY, kid: str = KID
) -> dict[str, Any]:
    return seal_record(
        pending(i), sequence=sequence, prev_hash=prev_hash, key_id=kid, signing_key=key, now=NOW
    )


def chain(n: int = 20) -> list[dict[str, Any]]:
    """A sound chain of ``n`` records."""
    records: list[dict[str, Any]] = []
    for i in range(n):
        records.append(link(i, i, records[-1]["hash"] if records else GENESIS))
    return records


def broken(records: list[dict[str, Any]]) -> ChainBrokenError:
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(records, KEYS)
    return caught.value


def changed(value: Any) -> Any:
    """``value`` altered minimally, whatever its type."""
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:] if value else b"\x00"
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, int):
        return value + 1
    if isinstance(value, list):
        return [*value, "x"]
    return value + timedelta(milliseconds=1)


def test_sound_chain_verifies() -> None:
    """An untouched chain of 20 verifies and counts its records; an empty one counts 0."""
    assert verify_chain(chain(), KEYS) == 20
    assert verify_chain([], KEYS) == 0


def test_chain_survives_the_wire() -> None:
    """Records fit the newest audit_record schema exactly, and the chain verifies after an Avro
    round trip."""
    codec = Codec(SCHEMAS, "intelshare.AuditRecord")
    records = chain()
    assert set(records[0]) == {f["name"] for f in codec.reader.raw["fields"]}
    decoded = [codec.decode(codec.encode(r)) for r in records]
    assert decoded == records
    assert verify_chain(decoded, KEYS) == 20


def test_first_record_follows_genesis() -> None:
    """The first record's prev_hash is 32 zero bytes, and the hash covers sequence and prev_hash."""
    first = chain(1)[0]
    assert first["prev_hash"] == GENESIS == bytes(32)
    assert record_hash(dict(first, sequence=1)) != first["hash"]
    assert record_hash(dict(first, prev_hash=b"\x01" * 32)) != first["hash"]
    assert record_hash(dict(first, hash=b"", signature=b"")) == first["hash"]


@pytest.mark.parametrize("field", [*HASHED_FIELDS, "subject_links", "hash", "signature"])
def test_changed_field_is_found_at_its_record(field: str) -> None:
    """Changing any one field of record 7 breaks the chain at sequence 7."""
    records = chain()
    records[7] = dict(records[7], **{field: changed(records[7][field])})
    assert broken(records).sequence == 7


def test_changed_byte_is_found() -> None:
    """One changed byte in a payload digest is named as content not matching its hash."""
    records = chain()
    records[3] = dict(records[3], payload_sha256=b"\x01" + bytes(31))
    error = broken(records)
    assert (error.sequence, error.reason) == (3, "the record's content does not match its hash")


@pytest.mark.parametrize("index", [0, 11, 18])
def test_removed_record_is_found(index: int) -> None:
    """A deleted record is named by the sequence that is missing."""
    records = chain()
    del records[index]
    error = broken(records)
    assert error.sequence == index
    assert "missing" in error.reason


def test_swapped_records_are_found() -> None:
    """Two swapped records break the chain at the first of them."""
    records = chain()
    records[4], records[5] = records[5], records[4]
    error = broken(records)
    assert error.sequence == 4
    assert "out of order" in error.reason


def test_inserted_forgery_under_the_exchange_key_id_is_found() -> None:
    """A record forged with another key but the exchange's key id fails its signature."""
    records = chain()
    forged = link(99, 10, records[9]["hash"], key=FORGER)
    error = broken([*records[:10], forged, *records[10:]])
    assert error.sequence == 10
    assert "signature" in error.reason


def test_inserted_forgery_under_its_own_key_is_found() -> None:
    """A record signed with a key that is not the exchange's is refused as an unknown key."""
    records = chain()
    forged = link(99, 10, records[9]["hash"], key=FORGER, kid="forger")
    error = broken([*records[:10], forged, *records[10:]])
    assert error.sequence == 10
    assert "unknown key" in error.reason


def test_inserted_renumbered_record_is_found() -> None:
    """A forged record reusing an earlier sequence number is called inserted."""
    records = chain()
    forged = link(99, 3, records[2]["hash"], key=FORGER)
    error = broken([*records[:10], forged, *records[10:]])
    assert error.sequence == 10
    assert "inserted" in error.reason


def test_repeated_record_is_found() -> None:
    """A genuine record copied further down the chain is called repeated."""
    records = chain()
    error = broken([*records[:10], records[3], *records[10:]])
    assert error.sequence == 10
    assert "repeated" in error.reason


def test_second_record_for_one_disclosure_is_found() -> None:
    """Even signed by the exchange, a second record for one disclosure breaks the chain."""
    records = chain(5)
    records.append(seal_record(
        dict(pending(2)), sequence=5, prev_hash=records[-1]["hash"], key_id=KID, signing_key=KEY,
        now=NOW,
    ))  # fmt: skip
    error = broken(records)
    assert (error.sequence, error.reason) == (5, "a second record for one disclosure was inserted")


def test_recomputed_hash_without_key_is_found() -> None:
    """Changing content and recomputing its hash still fails the signature."""
    records = chain()
    altered = dict(records[2], purpose="another purpose")
    altered["hash"] = record_hash(altered)
    records[2] = altered
    error = broken(records)
    assert error.sequence == 2
    assert "signature" in error.reason


def test_unknown_key_is_named() -> None:
    """A chain signed by a key not among the published ones is refused at its first record."""
    records = [link(0, 0, GENESIS, key=FORGER, kid="other")]
    error = broken(records)
    assert (error.sequence, error.reason) == (0, "signed with unknown key 'other'")


def test_malformed_record_is_refused() -> None:
    """A record missing a field or with a wrongly typed one is refused, not a crash."""
    records = chain(3)
    del records[1]["subjects"]
    assert broken(records).sequence == 1
    records = chain(3)
    records[2]["hash"] = None
    assert broken(records).sequence == 2


def test_truncated_tail_is_a_shorter_sound_chain() -> None:
    """Dropping the newest records cannot be seen from the chain alone (a published head can)."""
    assert verify_chain(chain()[:15], KEYS) == 15


def test_streaming_verifier() -> None:
    """ChainVerifier checks records as they are read and stops at the first bad one."""
    records = chain()
    verifier = ChainVerifier(KEYS)
    for record in records[:12]:
        verifier.feed(record)
    assert (verifier.count, verifier.head) == (12, records[11]["hash"])
    with pytest.raises(ChainBrokenError) as caught:
        verifier.feed(records[13])
    assert caught.value.sequence == 12
    assert verifier.count == 12
    verifier.feed(records[12])
    assert verifier.count == 13


def test_records_without_subject_links_hash_as_before() -> None:
    """A record written before audit_record v3 (no subject_links) still verifies, and one with
    links does not verify once its links are dropped or emptied."""
    old = [dict(r) for r in chain(3)]
    for record in old:
        del record["subject_links"]
    chained: list[dict[str, Any]] = []
    for i, record in enumerate(old):
        record = seal_record(
            {k: v for k, v in record.items() if k not in ("hash", "signature")},
            sequence=i, prev_hash=chained[-1]["hash"] if chained else GENESIS,
            key_id=KID, signing_key=KEY, now=NOW,
        )  # fmt: skip
        chained.append(record)
    assert verify_chain(chained, KEYS) == 3
    assert verify_chain([{**r, "subject_links": []} for r in chained], KEYS) == 3
    linked = chain(2)
    assert broken([linked[0], {**linked[1], "subject_links": []}]).sequence == 1
    assert broken([{**linked[0], "subject_links": ["sl-y"]}, linked[1]]).sequence == 0
