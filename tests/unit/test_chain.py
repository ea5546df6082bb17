"""The audit chain detects a changed, removed, reordered or inserted record, by sequence."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.chain import GENESIS, record_hash, seal_record, verify_chain
from streams.crypto import key_id
from streams.errors import ChainBrokenError
from tests.factories import NOW

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key().public_bytes_raw())
KEYS = {KID: KEY.public_key()}


def pending(i: int) -> dict[str, Any]:
    return {
        "sequence": -1, "disclosure_id": f"d-{i}", "event_id": f"e-{i}", "agreement_id": "A",
        "agreement_version": 1, "recipient": "kz-knb", "purpose": "p", "legal_basis": "l",
        "fields_disclosed": ["event_id"], "subjects": ["ps-x"], "payload_sha256": bytes(32),
        "disclosed_at": NOW, "recorded_at": NOW, "prev_hash": b"", "hash": b"", "key_id": "",
        "signature": b"",
    }  # fmt: skip


def chain(n: int = 20, key: Ed25519PrivateKey = KEY) -> list[dict[str, Any]]:
    records, head = [], GENESIS
    kid = key_id(key.public_key().public_bytes_raw())
    for i in range(n):
        record = seal_record(
            pending(i), sequence=i, prev_hash=head, key_id=kid, signing_key=key, now=NOW
        )
        records.append(record)
        head = record["hash"]
    return records


def broken_at(records: list[dict[str, Any]]) -> int:
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(records, KEYS)
    return caught.value.sequence


def test_sound_chain_verifies() -> None:
    """An untouched chain verifies and counts its records."""
    assert verify_chain(chain(), KEYS) == 20
    assert verify_chain([], KEYS) == 0


def test_changed_byte_is_found() -> None:
    """One changed byte in one record's content breaks the chain at that record."""
    records = chain()
    records[7] = dict(records[7], recipient="kz-knc")
    assert broken_at(records) == 7


def test_changed_digest_byte_is_found() -> None:
    """A changed payload digest is found too."""
    records = chain()
    records[3] = dict(records[3], payload_sha256=b"\x01" + bytes(31))
    assert broken_at(records) == 3


def test_removed_record_is_found() -> None:
    """A deleted record is named by the sequence that is missing."""
    records = chain()
    del records[11]
    assert broken_at(records) == 11


def test_swapped_records_are_found() -> None:
    """Two swapped records break the chain at the first of them."""
    records = chain()
    records[4], records[5] = records[5], records[4]
    assert broken_at(records) == 4


def test_inserted_forgery_is_found() -> None:
    """A record forged with another key, chained correctly, is refused at its position."""
    records = chain()
    forger = Ed25519PrivateKey.generate()
    forged = seal_record(
        pending(99),
        sequence=10,
        prev_hash=records[9]["hash"],
        key_id=KID,
        signing_key=forger,
        now=NOW,
    )
    assert broken_at([*records[:10], forged, *records[10:]]) == 10


def test_recomputed_hash_without_key_is_found() -> None:
    """Changing content and recomputing its hash still fails the signature."""
    records = chain()
    changed = dict(records[2], purpose="another purpose")
    changed["hash"] = record_hash(changed)
    records[2] = changed
    assert broken_at(records) == 2


def test_unknown_key_is_named() -> None:
    """A chain signed by a key not among the published ones is refused."""
    with pytest.raises(ChainBrokenError, match="unknown key"):
        verify_chain(chain(3, Ed25519PrivateKey.generate()), KEYS)


def test_truncated_tail_is_a_shorter_sound_chain() -> None:
    """Dropping the newest records cannot be seen from the chain alone (checkpoints will)."""
    assert verify_chain(chain()[:15], KEYS) == 15
