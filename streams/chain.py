"""The audit hash chain: each record commits to the one before it and is signed.

``record_hash`` covers every field of an audit record except ``hash`` and ``signature`` (so the
sequence number and the previous hash too); the signature is Ed25519 over that hash. Anyone
with the exchange's public keys can then detect a changed, removed, reordered or inserted
record: :class:`ChainVerifier` names the first sequence number at which the chain breaks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.crypto import canonical, sign, verify
from streams.errors import ChainBrokenError, SignatureError

__all__ = ["GENESIS", "ChainVerifier", "record_hash", "seal_record", "verify_chain"]

GENESIS = bytes(32)
"""The previous hash of the first record."""

_HASHED = (
    "sequence", "disclosure_id", "event_id", "agreement_id", "agreement_version", "recipient",
    "purpose", "legal_basis", "fields_disclosed", "subjects", "payload_sha256", "disclosed_at",
    "recorded_at", "prev_hash", "key_id",
)  # fmt: skip


def record_hash(record: Mapping[str, Any]) -> bytes:
    """SHA-256 over the canonical encoding of every field but ``hash`` and ``signature``."""
    return hashlib.sha256(canonical("intelshare-audit-v1", *(record[f] for f in _HASHED))).digest()


def seal_record(
    pending: Mapping[str, Any],
    *,
    sequence: int,
    prev_hash: bytes,
    key_id: str,
    signing_key: Ed25519PrivateKey,
    now: datetime,
) -> dict[str, Any]:
    """The chained record for a pending entry: sequence, previous hash, hash and signature."""
    record = dict(pending, sequence=sequence, prev_hash=prev_hash, key_id=key_id, recorded_at=now)
    record["hash"] = record_hash(record)
    record["signature"] = sign(signing_key, record["hash"])
    return record


class ChainVerifier:
    """Checks records one at a time, in order, as they are read."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = keys
        self.count = 0
        self.head = GENESIS
        self._seen: set[str] = set()

    def feed(self, record: Mapping[str, Any]) -> None:
        """Check the next record; ChainBrokenError names its sequence and what is wrong."""
        expected = self.count
        sequence = record["sequence"]
        if sequence != expected:
            what = f"expected sequence {expected}: " + (
                "records are missing"
                if sequence > expected
                else "a record is repeated, reordered or inserted"
            )
            raise ChainBrokenError(min(sequence, expected) if sequence >= 0 else expected, what)
        if record["prev_hash"] != self.head:
            raise ChainBrokenError(sequence, "prev_hash is not the previous record's hash")
        if record_hash(record) != record["hash"]:
            raise ChainBrokenError(sequence, "the record's content does not match its hash")
        public = self.keys.get(record["key_id"])
        if public is None:
            raise ChainBrokenError(sequence, f"signed with unknown key {record['key_id']}")
        try:
            verify(public, record["signature"], record["hash"])
        except SignatureError:
            raise ChainBrokenError(sequence, "the signature does not verify") from None
        if record["disclosure_id"] in self._seen:
            raise ChainBrokenError(sequence, "a second record for one disclosure")
        self._seen.add(record["disclosure_id"])
        self.head = record["hash"]
        self.count += 1


def verify_chain(records: Iterable[Mapping[str, Any]], keys: Mapping[str, Ed25519PublicKey]) -> int:
    """The number of records when the whole chain is sound; else ChainBrokenError."""
    verifier = ChainVerifier(keys)
    for record in records:
        verifier.feed(record)
    return verifier.count
