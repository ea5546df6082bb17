"""The audit hash chain: each record commits to the one before it and is signed.

``record_hash`` covers every field of an audit record except ``hash`` and ``signature`` (so the
sequence number and the previous hash too), encoded unambiguously in a fixed order; the
signature is Ed25519 over that hash. Anyone with the exchange's public keys can then detect a
changed, removed, reordered or inserted record: :class:`ChainVerifier` names the first sequence
number at which the chain breaks. Dropping the newest records cannot be seen from the chain
alone; that needs a head published elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.core.canonical import canonical
from streams.core.crypto import sign, verify
from streams.core.times import to_millis
from streams.errors import ChainBrokenError, SignatureError
from streams.i18n import Message, msg

__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "KIND_FIELDS",
    "RECORD_KINDS",
    "ChainVerifier",
    "SeenIds",
    "record_hash",
    "seal_record",
    "verify_chain",
]

GENESIS = bytes(32)
"""The previous hash of the first record."""
_DOMAIN = "intelshare-audit-v1"
_DOMAIN_LINKS = "intelshare-audit-v3"
_DOMAIN_KIND = "intelshare-audit-v4"
HASHED_FIELDS = (
    "sequence", "disclosure_id", "event_id", "agreement_id", "agreement_version", "recipient",
    "purpose", "legal_basis", "fields_disclosed", "subjects", "payload_sha256",
    "disclosure_sha256", "disclosed_at", "recorded_at", "prev_hash", "key_id",
)  # fmt: skip
"""Every field of schemas/audit_record.v2.avsc but hash and signature, in the order hashed
(``subject_links`` of v3 follows when it is not empty, then the v4 fields, see KIND_FIELDS)."""
KIND_FIELDS = ("kind", "refers_to", "reason", "useful")
"""The fields audit record v4 added, hashed after ``subject_links`` (empty or not) under the
v4 domain when any of them differs from its default: ``kind`` "disclosure", the others None."""
RECORD_KINDS = (
    "collection", "alteration", "consultation", "disclosure", "combination", "erasure",
    "recall", "correction", "feedback",
)  # fmt: skip
"""The processing operations an audit record can name (``kind``): the six of the Law
Enforcement Directive's logging article (Directive (EU) 2016/680, Art. 25(1)), then the
notices about a disclosure."""
_hashed_values = operator.itemgetter(*HASHED_FIELDS)
"""The values of HASHED_FIELDS of a record, in order (KeyError for a missing one)."""
_sha256 = hashlib.sha256
_MALFORMED = msg("the record is malformed: a field is missing or of the wrong type")


def record_hash(record: Mapping[str, Any]) -> bytes:
    """SHA-256 over the canonical encoding of every field but ``hash`` and ``signature``.

    ``subject_links`` (audit record v3) is hashed, after the others and under its own domain,
    when it is not empty; records without links hash as they always did, so older records
    still verify and links cannot be added to or removed from a record unnoticed. Likewise the
    v4 fields (KIND_FIELDS): a record whose kind is not "disclosure", or that has a
    ``refers_to``, ``reason`` or ``useful``, hashes them all, with the links, under the v4
    domain; a plain disclosure hashes as it did before v4. A v4 field holding a value of the
    wrong type is refused (TypeError) rather than hashed as if it were absent.
    """
    values = _hashed_values(record)
    links = record.get("subject_links")
    kind, refers_to = record.get("kind", "disclosure"), record.get("refers_to")
    reason, useful = record.get("reason"), record.get("useful")
    if kind != "disclosure" or refers_to is not None or reason is not None or useful is not None:
        if not isinstance(kind, str) or not all(
            isinstance(v, (str, type(None))) for v in (refers_to, reason)
        ):
            raise TypeError("kind, refers_to and reason must be text")
        if useful is not None and not isinstance(useful, bool):
            raise TypeError("useful must be a boolean")
        return _sha256(
            canonical(_DOMAIN_KIND, *values, links or [], kind, refers_to, reason, useful)
        ).digest()
    if links:
        return _sha256(canonical(_DOMAIN_LINKS, *values, links)).digest()
    return _sha256(canonical(_DOMAIN, *values)).digest()


def seal_record(
    pending: Mapping[str, Any],
    *,
    sequence: int,
    prev_hash: bytes,
    key_id: str,
    signing_key: Ed25519PrivateKey,
    now: datetime,
) -> dict[str, Any]:
    """The chained record for a pending entry: sequence, previous hash, time, hash, signature."""
    record = dict(
        pending, sequence=sequence, prev_hash=prev_hash, key_id=key_id, recorded_at=to_millis(now)
    )
    record["hash"] = record_hash(record)
    record["signature"] = sign(signing_key, record["hash"])
    return record


class SeenIds(Protocol):
    """The disclosure ids verified so far: a set, or an index's table of them."""

    def __contains__(self, ident: object, /) -> bool: ...

    def add(self, ident: str, /) -> None: ...


class ChainVerifier:
    """Checks audit records one at a time, in order, as a consumer reads them.

    ``feed`` raises ChainBrokenError at the first bad record, naming the sequence number the
    chain breaks at (the one expected there) and what is wrong.
    """

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        retired: Mapping[str, datetime] | None = None,
    ) -> None:
        """``retired`` maps a rotated-out key id to when it was retired: a record it signed
        later than that is refused."""
        self._keys = keys
        self._retired = dict(retired or {})
        self._count = 0
        self._head = GENESIS
        self._seen: SeenIds = set()

    @classmethod
    def resume(
        cls,
        keys: Mapping[str, Ed25519PublicKey],
        retired: Mapping[str, datetime] | None,
        *,
        count: int,
        head: bytes,
        seen: SeenIds,
    ) -> ChainVerifier:
        """A verifier that continues after ``count`` records already verified, the last of
        which hashed to ``head`` (an index's incremental verification): each new record is
        checked once, against that head and the keys."""
        verifier = cls(keys, retired)
        verifier._count, verifier._head, verifier._seen = count, head, seen
        return verifier

    @property
    def count(self) -> int:
        """Records verified so far; also the sequence number expected next."""
        return self._count

    @property
    def head(self) -> bytes:
        """Hash of the last verified record (GENESIS before the first)."""
        return self._head

    def feed(self, record: Mapping[str, Any], *, signature: bool = True) -> None:
        """Check the next record; ChainBrokenError names the sequence and what is wrong.

        ``signature=False`` skips only the Ed25519 check of the record's own signature, for a
        record a signed checkpoint authenticates instead (:mod:`streams.audit.verify` says when
        that is as strong); the content hash, the link, the key's being known and not retired
        before the record's time, and the one record per disclosure are checked all the same.
        """
        expected = self._count
        try:
            content_hash = record_hash(record)
        except (KeyError, TypeError):
            raise ChainBrokenError(expected, _MALFORMED) from None
        sequence, ident, key = record["sequence"], record["disclosure_id"], record["key_id"]
        stored, record_signature = record.get("hash"), record.get("signature")
        if type(sequence) is not int or not isinstance(ident, str) or not isinstance(key, str):
            raise ChainBrokenError(expected, _MALFORMED)
        if not isinstance(stored, bytes) or not isinstance(record_signature, bytes):
            raise ChainBrokenError(expected, _MALFORMED)
        if sequence != expected:
            raise ChainBrokenError(expected, self._misplaced(sequence, ident))
        if record["prev_hash"] != self._head:
            raise ChainBrokenError(
                expected, msg(
                    "prev_hash is not the previous record's hash: a record before it was "
                    "removed or replaced, or this one was inserted"
                ),
            )  # fmt: skip
        if not hmac.compare_digest(content_hash, stored):
            raise ChainBrokenError(expected, msg("the record's content does not match its hash"))
        public = self._keys.get(key)
        if public is None:
            raise ChainBrokenError(
                expected, msg("signed with unknown key {key_id}", key_id=repr(key[:40]))
            )
        try:
            if signature:
                verify(public, record_signature, stored)
        except SignatureError:
            raise ChainBrokenError(
                expected, msg("the signature does not verify: the record was forged or altered")
            ) from None
        retired = self._retired.get(key)
        if retired is not None and (
            not isinstance(record["recorded_at"], datetime) or record["recorded_at"] > retired
        ):  # after the signature: a forged record's time is not worth comparing
            raise ChainBrokenError(
                expected, msg("signed with key {key_id} after it was retired", key_id=key)
            )
        if ident in self._seen:
            raise ChainBrokenError(expected, msg("a second record for one disclosure was inserted"))
        self._seen.add(ident)
        self._head = stored
        self._count += 1

    def _misplaced(self, sequence: int, ident: str) -> Message:
        at = {"expected": self._count, "found": sequence}
        if sequence > self._count:  # never equal here (mutation-equivalent: >=)
            return msg(
                "expected sequence {expected}, found {found}: records are missing or out of order",
                **at,
            )
        if ident in self._seen:
            return msg(
                "expected sequence {expected}, found {found}: a record is repeated or out of order",
                **at,
            )
        return msg("expected sequence {expected}, found {found}: a record was inserted", **at)


def verify_chain(records: Iterable[Mapping[str, Any]], keys: Mapping[str, Ed25519PublicKey]) -> int:
    """The number of records when the whole chain is sound; else ChainBrokenError at the first
    bad record."""
    verifier = ChainVerifier(keys)
    for record in records:
        verifier.feed(record)
    return verifier.count
