"""Witnesses: second parties that cosign a checkpoint only if the log only grew.

In the manner of C2SP tlog-witness and tlog-cosignature. A witness (an oversight body, a second
country) keeps the last checkpoint it cosigned. Given the checkpoints and records it read, it
verifies the exchange's signature on each newer checkpoint, recomputes the Merkle root at each
checkpoint's size from the records (whose hash links and signatures it checks first), and
checks that the checkpoint it kept is still a prefix of the log (:func:`to_cosign`). Only then
does it cosign (:func:`cosign`); otherwise it refuses, naming the sizes and roots that disagree.
An insider holding the exchange's key can re-sign a rewritten log, but not the witnesses'
cosignatures; verifiers that require them (:class:`WitnessPolicy`) refuse the rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.audit.chain import ChainVerifier
from streams.audit.checkpoint import verify_checkpoint
from streams.audit.merkle import Frontier, leaf_hash
from streams.audit.verify import VerificationKeys
from streams.core.canonical import canonical
from streams.core.crypto import key_id, sign, verify
from streams.core.times import format_time, to_millis
from streams.errors import ConfigError, InconsistentLogError, SignatureError
from streams.i18n import msg

__all__ = [
    "WitnessPolicy",
    "WitnessView",
    "cosign",
    "cosignature_from_json",
    "cosignature_json",
    "cosigners",
    "latest_cosigned",
    "of_checkpoint",
    "policy_problem",
    "to_cosign",
    "witness_views",
]

_DOMAIN = "intelshare-cosignature-v1"


def _signed(cosignature: Mapping[str, Any]) -> bytes:
    return canonical(
        _DOMAIN, cosignature["witness"], cosignature["key_id"], cosignature["tree_size"],
        cosignature["root_hash"], cosignature["cosigned_at"],
    )  # fmt: skip


def cosign(
    checkpoint: Mapping[str, Any], witness: str, key: Ed25519PrivateKey, now: datetime
) -> dict[str, Any]:
    """A cosignature record (schemas/cosignature.v1.avsc) of ``checkpoint``'s size and root."""
    cosignature = {
        "witness": witness,
        "key_id": key_id(key.public_key().public_bytes_raw()),
        "tree_size": checkpoint["tree_size"],
        "root_hash": checkpoint["root_hash"],
        "cosigned_at": to_millis(now),
    }
    cosignature["signature"] = sign(key, _signed(cosignature))
    return cosignature


def cosignature_json(cosignature: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of a cosignature, as exports and proofs carry it."""
    return {
        "witness": cosignature["witness"],
        "key_id": cosignature["key_id"],
        "tree_size": cosignature["tree_size"],
        "root_hash": cosignature["root_hash"].hex(),
        "cosigned_at": format_time(cosignature["cosigned_at"]),
        "signature": cosignature["signature"].hex(),
    }


def cosignature_from_json(raw: Any, label: str) -> dict[str, Any]:
    """A cosignature from its JSON form; ConfigError naming ``label`` when malformed."""
    try:
        moment = datetime.fromisoformat(raw["cosigned_at"])
        if moment.tzinfo is None:
            raise ValueError(msg("cosigned_at has no time zone"))
        return {
            "witness": str(raw["witness"]),
            "key_id": str(raw["key_id"]),
            "tree_size": int(raw["tree_size"]),
            "root_hash": bytes.fromhex(raw["root_hash"]),
            "cosigned_at": moment,
            "signature": bytes.fromhex(raw["signature"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            msg(
                "{label}: not a cosignature ({error_type}: {exc})",
                label=label,
                error_type=type(exc).__name__,
                exc=exc,
            )
        ) from None


def cosigners(
    checkpoint: Mapping[str, Any],
    cosignatures: Iterable[Mapping[str, Any]],
    witness_keys: Mapping[str, Ed25519PublicKey],
) -> dict[str, datetime]:
    """The trusted witnesses (by key id) whose cosignature of ``checkpoint``'s size and root
    verifies, with when each cosigned; others are ignored."""
    found: dict[str, datetime] = {}
    for cosignature in cosignatures:
        public = witness_keys.get(cosignature["key_id"])
        if public is None or cosignature["tree_size"] != checkpoint["tree_size"]:
            continue
        if cosignature["root_hash"] != checkpoint["root_hash"]:
            continue
        try:
            verify(public, cosignature["signature"], _signed(cosignature))
        except SignatureError:
            continue
        found.setdefault(cosignature["key_id"], cosignature["cosigned_at"])
    return found


class WitnessPolicy(NamedTuple):
    """Which witnesses a verifier trusts, and how many of them must have cosigned."""

    keys: Mapping[str, Ed25519PublicKey]
    """The trusted witnesses' public keys by key id (``--witness-key``)."""
    minimum: int
    """Cosignatures required (``--min-cosignatures``)."""


def policy_problem(
    checkpoint: Mapping[str, Any],
    cosignatures: Iterable[Mapping[str, Any]],
    policy: WitnessPolicy,
) -> str | None:
    """Why ``checkpoint`` lacks the cosignatures ``policy`` requires, or None."""
    found = cosigners(checkpoint, cosignatures, policy.keys)
    if len(found) >= policy.minimum:
        return None
    shown = {"size": checkpoint["tree_size"], "found": len(found), "minimum": policy.minimum}
    if not policy.keys:
        return msg(
            "the checkpoint of {size} records has {found} of the {minimum} cosignatures required "
            "from the witnesses given (none): no witness vouched that it extends the log they saw",
            **shown,
        )
    return msg(
        "the checkpoint of {size} records has {found} of the {minimum} cosignatures required "
        "from the witnesses given ({witnesses}): no witness vouched that it extends the log they "
        "saw",
        witnesses=", ".join(sorted(policy.keys)),
        **shown,
    )


def of_checkpoint(
    checkpoint: Mapping[str, Any], cosignatures: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The cosignatures (JSON form) that name ``checkpoint``'s size and root, for an export or
    a proof to carry; whether they verify is the reader's to check."""
    return [
        cosignature_json(c)
        for c in cosignatures
        if c["tree_size"] == checkpoint["tree_size"] and c["root_hash"] == checkpoint["root_hash"]
    ]


def latest_cosigned(
    checkpoints: Iterable[Mapping[str, Any]],
    cosignatures: Sequence[Mapping[str, Any]],
    policy: WitnessPolicy,
) -> Mapping[str, Any] | None:
    """The checkpoint over the most records that has the cosignatures ``policy`` requires."""
    for checkpoint in sorted(checkpoints, key=lambda c: c["tree_size"], reverse=True):
        if policy_problem(checkpoint, cosignatures, policy) is None:
            return checkpoint
    return None


class WitnessView(NamedTuple):
    """What the oversight page shows of one trusted witness."""

    witness: str
    """Its name, as its cosignatures give it."""
    key_id: str
    """Id of the key it cosigns with."""
    tree_size: int
    """The size of the largest checkpoint it cosigned."""
    cosigned_at: datetime
    """When it cosigned that one."""


def witness_views(
    cosignatures: Iterable[Mapping[str, Any]], witness_keys: Mapping[str, Ed25519PublicKey]
) -> list[WitnessView]:
    """Each trusted witness's last cosigned size and time, counting only cosignatures that
    verify under its key; a witness that has cosigned nothing is left out."""
    last: dict[str, WitnessView] = {}
    for cosignature in cosignatures:
        public = witness_keys.get(cosignature["key_id"])
        if public is None:
            continue
        try:
            verify(public, cosignature["signature"], _signed(cosignature))
        except SignatureError:
            continue
        view = WitnessView(
            cosignature["witness"], cosignature["key_id"], cosignature["tree_size"],
            cosignature["cosigned_at"],
        )  # fmt: skip
        known = last.get(view.key_id)
        if known is None or view.tree_size >= known.tree_size:
            last[view.key_id] = view
    return sorted(last.values(), key=lambda v: (v.witness, v.key_id))


def to_cosign(
    kept: Mapping[str, Any] | None,
    checkpoints: Sequence[Mapping[str, Any]],
    records: Iterable[Mapping[str, Any]],
    keys: VerificationKeys,
) -> list[Mapping[str, Any]]:
    """The checkpoints newer than ``kept`` that a witness may cosign, oldest first.

    ``checkpoints`` must be read before ``records`` (so every one covers records read). Raises
    ChainBrokenError for a bad record, SignatureError for a checkpoint the exchange did not
    sign, InconsistentLogError (both sizes and roots) when ``kept`` is no longer a prefix of the
    log, a newer checkpoint's root is not the records', or the log shrank below ``kept``.
    """
    verifier = ChainVerifier(keys.keys, keys.retired)
    hashes: list[bytes] = []
    for record in records:
        verifier.feed(record)
        hashes.append(record["hash"])
    newer = sorted(
        (c for c in checkpoints if kept is None or c["tree_size"] >= kept["tree_size"]),
        key=lambda c: c["tree_size"],
    )
    sizes = {c["tree_size"] for c in newer} | ({kept["tree_size"]} if kept else set())
    roots = _roots_at(hashes, sizes)
    if kept is not None:
        _still_a_prefix(kept, max(checkpoints, key=lambda c: c["tree_size"], default=None), roots)
    wanted: list[Mapping[str, Any]] = []
    for checkpoint in newer:
        verify_checkpoint(checkpoint, keys.keys)
        root = roots.get(checkpoint["tree_size"])
        if root != checkpoint["root_hash"]:
            base = kept or checkpoint
            found = (
                msg("the records read give more records than the log holds at its size")
                if root is None
                else msg("the records read give root {root} at its size", root=root.hex())
            )
            raise InconsistentLogError(
                base["tree_size"], checkpoint["tree_size"], base["root_hash"],
                checkpoint["root_hash"], found,
            )  # fmt: skip
        if kept is None or checkpoint["tree_size"] > kept["tree_size"]:
            wanted.append(checkpoint)
    return _distinct(wanted)


def _still_a_prefix(
    kept: Mapping[str, Any], latest: Mapping[str, Any] | None, roots: Mapping[int, bytes]
) -> None:
    """InconsistentLogError unless the log read still holds the tree the witness cosigned."""
    size = kept["tree_size"]
    if latest is None:
        raise InconsistentLogError(size, 0, kept["root_hash"], b"", msg("there are no checkpoints"))
    root = roots.get(size)
    if latest["tree_size"] < size:
        reason = msg("the latest checkpoint covers fewer records: the log's end was cut off")
    elif root is None:
        reason = msg(
            "the log holds fewer than the {size} records of the kept checkpoint", size=size
        )
    elif root != kept["root_hash"]:
        reason = msg(
            "the first {size} records of the log now hash to {root}: a record among them was "
            "changed, removed, reordered or inserted after it was cosigned",
            size=size,
            root=root.hex(),
        )
    else:
        return
    raise InconsistentLogError(
        size, latest["tree_size"], kept["root_hash"], latest["root_hash"], reason
    )


def _roots_at(hashes: Sequence[bytes], sizes: set[int]) -> dict[int, bytes]:
    """The Merkle root of the first n records for each n in ``sizes`` (one pass)."""
    frontier, roots = Frontier(), {}
    if 0 in sizes:
        roots[0] = frontier.root()
    for chain_hash in hashes:
        frontier.append(leaf_hash(chain_hash))
        if frontier.size in sizes:
            roots[frontier.size] = frontier.root()
    return roots


def _distinct(checkpoints: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One checkpoint per (size, root): the sequencer may sign a size twice after a restart."""
    seen: set[tuple[int, bytes]] = set()
    out = []
    for checkpoint in checkpoints:
        mark = (checkpoint["tree_size"], checkpoint["root_hash"])
        if mark not in seen:
            seen.add(mark)
            out.append(checkpoint)
    return out
