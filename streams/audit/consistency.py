"""Consistency between signed checkpoints: the log only ever grew (RFC 9162 §2.1.4).

A checkpoint signs the Merkle root of the first ``tree_size`` records. A later checkpoint is
an append-only extension of an earlier one when the earlier tree is a prefix of the later:
:func:`require_extension` checks that by recomputing both roots from the records' chain hashes
and returns the RFC 9162 consistency proof, which :func:`check_consistency` verifies offline
with only the exchange's public key. An insider who rewrites a record and re-signs the chain and
a new checkpoint cannot pass either against a checkpoint kept from before the rewrite.

Checkpoints travel as JSON (:func:`checkpoint_json`): bytes as hex, the time as ISO 8601.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from streams.audit.checkpoint import verify_checkpoint
from streams.audit.merkle import consistency_problem, consistency_proof, leaf_hash, tree_hash
from streams.errors import ConfigError, InconsistentLogError
from streams.i18n import Message, msg

__all__ = [
    "check_consistency",
    "checkpoint_from_json",
    "checkpoint_json",
    "describe",
    "first_difference",
    "make_consistency_proof",
    "require_extension",
]


def checkpoint_json(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of a signed checkpoint (as in an inclusion proof)."""
    return {
        "tree_size": checkpoint["tree_size"],
        "root_hash": checkpoint["root_hash"].hex(),
        "head_hash": checkpoint["head_hash"].hex(),
        "created_at": checkpoint["created_at"].isoformat(),
        "key_id": checkpoint["key_id"],
        "signature": checkpoint["signature"].hex(),
    }


def checkpoint_from_json(raw: Any, label: str) -> dict[str, Any]:
    """A checkpoint from its JSON form; ConfigError naming ``label`` when malformed."""
    try:
        size = raw["tree_size"]
        if type(size) is not int or size < 0:
            raise ValueError(msg("tree_size must be a whole number"))
        created = datetime.fromisoformat(raw["created_at"])
        if created.tzinfo is None:
            raise ValueError(msg("created_at has no time zone"))
        key = raw["key_id"]
        if not isinstance(key, str):
            raise TypeError(msg("key_id must be text"))
        return {
            "tree_size": size,
            "root_hash": bytes.fromhex(raw["root_hash"]),
            "head_hash": bytes.fromhex(raw["head_hash"]),
            "created_at": created,
            "key_id": key,
            "signature": bytes.fromhex(raw["signature"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            msg(
                "{label}: not a signed checkpoint ({error_type}: {exc})",
                label=label,
                error_type=type(exc).__name__,
                exc=exc,
            )
        ) from None


def describe(checkpoint: Mapping[str, Any]) -> Message:
    """``the checkpoint of 12 records (root ab12..., signed 2026-11-20T10:00:00+00:00)``."""
    return msg(
        "the checkpoint of {size} records (root {root}..., signed {signed})",
        size=checkpoint["tree_size"],
        root=checkpoint["root_hash"].hex()[:16],
        signed=checkpoint["created_at"].isoformat(),
    )


def require_extension(
    old: Mapping[str, Any], new: Mapping[str, Any], chain_hashes: Sequence[bytes]
) -> list[bytes]:
    """The consistency proof from ``old`` to ``new``, recomputed from the log's chain hashes.

    ``chain_hashes`` must hash to ``new`` (check that first: :func:`log_against_checkpoint`).
    InconsistentLogError, naming both sizes and roots, when ``old`` is not a prefix of it.
    """
    m, n = old["tree_size"], new["tree_size"]

    def refuse(reason: str) -> InconsistentLogError:
        return InconsistentLogError(m, n, old["root_hash"], new["root_hash"], reason)

    if m > n:
        raise refuse(msg("the newer checkpoint covers fewer records: the log's end was cut off"))
    if n > len(chain_hashes):
        raise ValueError(
            msg("{count} records cannot make a tree of {n}", count=len(chain_hashes), n=n)
        )
    leaves = [leaf_hash(h) for h in chain_hashes[:n]]
    now_root = tree_hash(leaves[:m])
    if now_root != old["root_hash"]:
        raise refuse(
            msg(
                "the first {m} records of the log now hash to {root}: a record among them was "
                "changed, removed, reordered or inserted after the older checkpoint was signed",
                m=m,
                root=now_root.hex(),
            )
        )
    proof = consistency_proof(m, leaves)
    problem = consistency_problem(m, n, old["root_hash"], new["root_hash"], proof)
    if problem is not None:  # only if the records do not hash to ``new``
        raise refuse(problem)
    return proof


def first_difference(older: Sequence[bytes], newer: Sequence[bytes]) -> int | None:
    """The first sequence number at which two copies of the log hold different records, or
    None when one is a prefix of the other."""
    for sequence, (a, b) in enumerate(zip(older, newer, strict=False)):
        if a != b:
            return sequence
    return None


def make_consistency_proof(
    old: Mapping[str, Any], new: Mapping[str, Any], chain_hashes: Sequence[bytes]
) -> dict[str, Any]:
    """The JSON consistency proof between two checkpoints, for ``audit check-proof``."""
    path = require_extension(old, new, chain_hashes)
    return {
        "old": checkpoint_json(old),
        "new": checkpoint_json(new),
        "consistency_path": [h.hex() for h in path],
    }


def check_consistency(proof: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> Message:
    """Verify a JSON consistency proof offline; a one-line account when sound.

    ConfigError when malformed, SignatureError when a checkpoint's signature does not verify,
    InconsistentLogError when the path does not join the two roots.
    """
    old = checkpoint_from_json(proof.get("old"), "the proof's older checkpoint")
    new = checkpoint_from_json(proof.get("new"), "the proof's newer checkpoint")
    try:
        path = [bytes.fromhex(h) for h in proof["consistency_path"]]
    except (KeyError, TypeError, ValueError):
        raise ConfigError(msg("the proof's consistency_path is not a list of hex hashes")) from None
    verify_checkpoint(old, keys)
    verify_checkpoint(new, keys)
    m, n = old["tree_size"], new["tree_size"]
    problem = consistency_problem(m, n, old["root_hash"], new["root_hash"], path)
    if problem is not None:
        raise InconsistentLogError(m, n, old["root_hash"], new["root_hash"], problem)
    # Translators: {newer} and {older} are "the checkpoint of N records (root ..., signed ...)"
    return msg("{newer} extends {older}", newer=describe(new), older=describe(old))
