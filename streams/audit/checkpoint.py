"""Signed checkpoints of the audit log and inclusion proofs against them.

A checkpoint (a signed tree head, in the manner of RFC 9162) commits to the first
``tree_size`` audit records through their Merkle root; it is published on
``intel.audit.checkpoints``. An inclusion proof shows that one record is among them, and is
checked offline with the exchange's public key: the checkpoint's signature, the record's own
hash and signature, then the audit path to the root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.audit.chain import record_hash
from streams.audit.merkle import inclusion_proof, leaf_hash, root_from_proof, tree_hash
from streams.audit.records import export_row, import_row
from streams.core.canonical import canonical
from streams.core.crypto import sign, verify
from streams.errors import SignatureError
from streams.i18n import Message, msg

__all__ = [
    "NOT_THE_ROOT",
    "against_checkpoint",
    "check_proof",
    "cut_off",
    "log_against_checkpoint",
    "make_proof",
    "reason_of",
    "sign_checkpoint",
    "verify_checkpoint",
]

_DOMAIN = "intelshare-checkpoint-v1"


def _signed(checkpoint: Mapping[str, Any]) -> bytes:
    return canonical(
        _DOMAIN, checkpoint["tree_size"], checkpoint["root_hash"], checkpoint["head_hash"],
        checkpoint["created_at"], checkpoint["key_id"],
    )  # fmt: skip


def sign_checkpoint(
    *, tree_size: int, root_hash: bytes, head_hash: bytes, key_id: str,
    signing_key: Ed25519PrivateKey, now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """A checkpoint record (schemas/checkpoint.v1.avsc), signed."""
    checkpoint = {
        "tree_size": tree_size, "root_hash": root_hash, "head_hash": head_hash,
        "created_at": now, "key_id": key_id,
    }  # fmt: skip
    checkpoint["signature"] = sign(signing_key, _signed(checkpoint))
    return checkpoint


def verify_checkpoint(checkpoint: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> None:
    """SignatureError unless a published exchange key signed the checkpoint."""
    public = keys.get(checkpoint["key_id"])
    if public is None:
        raise SignatureError(
            msg("checkpoint signed with unknown key {key_id}", key_id=checkpoint["key_id"])
        )
    verify(public, checkpoint["signature"], _signed(checkpoint))


def make_proof(
    record: Mapping[str, Any], chain_hashes: Sequence[bytes], checkpoint: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON proof that ``record`` is in the log ``checkpoint`` signed."""
    size = checkpoint["tree_size"]
    index = record["sequence"]
    if index >= size:
        raise ValueError(
            msg(
                "record {index} is newer than the checkpoint of {size} records",
                index=index,
                size=size,
            )
        )
    leaves = [leaf_hash(h) for h in chain_hashes[:size]]
    return {
        "record": export_row(record),
        "leaf_index": index,
        "audit_path": [h.hex() for h in inclusion_proof(index, leaves)],
        "checkpoint": {
            "tree_size": size,
            "root_hash": checkpoint["root_hash"].hex(),
            "head_hash": checkpoint["head_hash"].hex(),
            "created_at": checkpoint["created_at"].isoformat(),
            "key_id": checkpoint["key_id"],
            "signature": checkpoint["signature"].hex(),
        },
    }


def check_proof(proof: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> str:
    """Verify a proof offline; returns a one-line account, raises SignatureError if unsound."""
    try:
        raw = proof["checkpoint"]
        checkpoint = {
            "tree_size": int(raw["tree_size"]),
            "root_hash": bytes.fromhex(raw["root_hash"]),
            "head_hash": bytes.fromhex(raw["head_hash"]),
            "created_at": datetime.fromisoformat(raw["created_at"]),
            "key_id": raw["key_id"],
            "signature": bytes.fromhex(raw["signature"]),
        }
        record = import_row(proof["record"], "proof record")
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        index = int(proof["leaf_index"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(
            msg("the proof is malformed ({error_type})", error_type=type(exc).__name__)
        ) from None
    verify_checkpoint(checkpoint, keys)
    if record_hash(record) != record["hash"] or record["sequence"] != index:
        raise SignatureError(msg("the record does not match its own hash or position"))
    public = keys.get(record["key_id"])
    if public is None:
        raise SignatureError(
            msg("the record is signed with unknown key {key_id}", key_id=record["key_id"])
        )
    verify(public, record["signature"], record["hash"])
    root = root_from_proof(index, checkpoint["tree_size"], leaf_hash(record["hash"]), path)
    if root != checkpoint["root_hash"]:
        raise SignatureError(msg("the audit path does not lead to the checkpoint's root"))
    return msg(
        "disclosure {disclosure_id} is record {index} of the {size} the exchange signed at "
        "{created_at}",
        disclosure_id=record["disclosure_id"],
        index=index,
        size=checkpoint["tree_size"],
        created_at=raw["created_at"],
    )


def log_against_checkpoint(
    records: Sequence[Mapping[str, Any]],
    checkpoint: Mapping[str, Any],
    keys: Mapping[str, Ed25519PublicKey],
) -> str | None:
    """Why the log disagrees with a signed checkpoint (e.g. its tail was cut off), or None."""
    try:
        verify_checkpoint(checkpoint, keys)
    except SignatureError as exc:
        return reason_of(exc)
    size = checkpoint["tree_size"]
    if len(records) < size:
        return cut_off(len(records))
    if tree_hash([leaf_hash(r["hash"]) for r in records[:size]]) != checkpoint["root_hash"]:
        return NOT_THE_ROOT
    return None


NOT_THE_ROOT = msg("the first records do not hash to the signed root")
"""The log's first records do not give the root a checkpoint signed."""


def cut_off(held: int) -> Message:
    """The log holds fewer records (``held``) than a checkpoint signed."""
    return msg("the log holds only {held}: records were removed from its end", held=held)


def against_checkpoint(size: int, problem: str) -> Message:
    """``problem`` found when checking the log against the checkpoint of ``size`` records."""
    # Translators: {problem} is another message, already translated, saying what is wrong
    return msg("against the checkpoint of {size} records: {problem}", size=size, problem=problem)


def reason_of(exc: BaseException) -> str:
    """The message of ``exc``, translatable when it was built with ``msg()``."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Message) else str(exc)
