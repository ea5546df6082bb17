"""The audit chain at its edges: fields of the wrong type, key retirement to the millisecond,
and the exact account ChainBrokenError gives of each break."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, ChainVerifier, record_hash, verify_chain
from streams.errors import ChainBrokenError
from tests.factories import NOW
from tests.unit.test_chain import KEY, KEYS, KID, chain, link

MALFORMED = "the record is malformed: a field is missing or of the wrong type"


def rehashed(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``record`` with ``changes`` and its hash recomputed (its signature no longer fits)."""
    changed = record | changes
    changed["hash"] = record_hash(changed)
    return changed


def broken_at(records: list[dict[str, Any]], keys: Any = KEYS, **retired: Any) -> ChainBrokenError:
    """The error at the first bad record of ``records``."""
    verifier = ChainVerifier(keys, retired or None)
    *sound, last = records
    for record in sound:
        verifier.feed(record)
    with pytest.raises(ChainBrokenError) as caught:
        verifier.feed(last)
    return caught.value


@pytest.mark.parametrize(
    "changes",
    [
        {"sequence": "0"},
        {"sequence": 0.0},
        {"sequence": True},
        {"disclosure_id": 0},
        {"disclosure_id": b"d-0"},
        {"key_id": 7},
        {"key_id": None},
    ],
    ids=["sequence-text", "sequence-float", "sequence-bool", "id-int", "id-bytes", "key-int",
         "key-none"],
)  # fmt: skip
def test_a_field_of_the_wrong_type_is_malformed(changes: dict[str, Any]) -> None:
    """A sequence that is not an integer, or a disclosure or key id that is not text, is
    refused as malformed at the first record, whichever of them is wrong."""
    record = link(0, 0, GENESIS)
    record = record | changes | {"hash": record["hash"]}
    with contextlib.suppress(TypeError):  # not even hashable: refused all the same
        record["hash"] = record_hash(record)
    error = broken_at([record])
    assert (error.sequence, error.reason) == (0, MALFORMED)


@pytest.mark.parametrize(
    "changes", [{"hash": "ab" * 32}, {"signature": None}, {"hash": None}, {"signature": "sig"}]
)
def test_a_hash_or_signature_that_is_not_bytes_is_malformed(changes: dict[str, Any]) -> None:
    """The stored hash and signature must be bytes."""
    records = chain(2)
    error = broken_at([records[0], records[1] | changes])
    assert (error.sequence, error.reason) == (1, MALFORMED)


def test_a_missing_field_is_malformed_at_its_sequence() -> None:
    """A record without one of the hashed fields is refused at its own position."""
    records = chain(3)
    del records[2]["event_id"]
    error = broken_at(records)
    assert (error.sequence, error.reason) == (2, MALFORMED)
    assert str(error) == f"audit chain broken at sequence 2: {MALFORMED}"


def test_the_account_of_each_break() -> None:
    """Each kind of break is named in words an oversight body can act on."""
    records = chain(4)
    assert broken_at([records[0], records[2]]).reason == (
        "expected sequence 1, found 2: records are missing or out of order"
    )
    assert broken_at([records[0], records[1], records[0]]).reason == (
        "expected sequence 2, found 0: a record is repeated or out of order"
    )
    inserted = link(9, 0, GENESIS)
    assert broken_at([records[0], records[1], inserted]).reason == (
        "expected sequence 2, found 0: a record was inserted"
    )
    assert broken_at([records[0], rehashed(records[1], prev_hash=bytes(32))]).reason == (
        "prev_hash is not the previous record's hash: a record before it was removed or "
        "replaced, or this one was inserted"
    )
    assert broken_at([records[0] | {"purpose": "other"}]).reason == (
        "the record's content does not match its hash"
    )
    assert broken_at([rehashed(records[0], purpose="other")]).reason == (
        "the signature does not verify: the record was forged or altered"
    )


def test_an_unknown_key_is_named_cut_to_forty_characters() -> None:
    """The key id of an unknown key is quoted, at most its first 40 characters."""
    long_id = "k" * 39 + "LAST-AND-MORE"
    record = link(0, 0, GENESIS, kid=long_id)
    error = broken_at([record])
    assert error.reason == f"signed with unknown key {long_id[:40]!r}"


def test_a_record_signed_at_the_moment_of_retirement_is_accepted() -> None:
    """A key retired at T still verifies records it signed at T; one millisecond later it
    does not, and the key is named."""
    record = link(0, 0, GENESIS)
    at = record["recorded_at"]
    verifier = ChainVerifier(KEYS, {KID: at})
    verifier.feed(record)
    assert verifier.count == 1
    error = broken_at([record], KEYS, **{KID: at - timedelta(milliseconds=1)})
    assert error.reason == f"signed with key {KID} after it was retired"


def test_another_retired_key_does_not_affect_this_one() -> None:
    """Retirement is per key: a retired other key leaves records of this one alone."""
    other = Ed25519PrivateKey.generate()
    keys = KEYS | {"other": other.public_key()}
    verifier = ChainVerifier(keys, {"other": NOW - timedelta(days=1)})
    for record in chain(3):
        verifier.feed(record)
    assert verifier.count == 3


def test_the_verifier_moves_its_head_only_on_a_sound_record() -> None:
    """head is the last sound record's hash, count the next sequence; a refused record
    changes neither."""
    records = chain(3)
    verifier = ChainVerifier(KEYS)
    assert (verifier.count, verifier.head) == (0, GENESIS)
    verifier.feed(records[0])
    assert (verifier.count, verifier.head) == (1, records[0]["hash"])
    with pytest.raises(ChainBrokenError):
        verifier.feed(records[2])
    assert (verifier.count, verifier.head) == (1, records[0]["hash"])
    verifier.feed(records[1])
    assert verify_chain(records, KEYS) == 3
    assert verify_chain([], KEYS) == 0


def test_a_forgery_under_another_key_is_refused() -> None:
    """A record signed by a key other than the one its key id names does not verify."""
    forger = Ed25519PrivateKey.generate()
    record = link(0, 0, GENESIS, key=forger, kid=KID)
    assert broken_at([record]).reason == (
        "the signature does not verify: the record was forged or altered"
    )
    assert KEY.public_key() == KEYS[KID]


@pytest.mark.parametrize("recorded_at", [1_700_000_000_000, "2026-11-26T12:00:00Z", None])
def test_a_hostile_time_under_a_retired_key_is_a_broken_chain(recorded_at: Any) -> None:
    """A record whose time is not a time, under a retired key (anyone can recompute its hash):
    the verifier says the chain is broken; it never fails with a TypeError."""
    forged = rehashed(link(0, 0, GENESIS), recorded_at=recorded_at)
    with pytest.raises(ChainBrokenError):
        ChainVerifier(KEYS, {KID: NOW}).feed(forged)
