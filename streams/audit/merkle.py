"""Merkle tree of the audit log in the manner of RFC 9162 (Certificate Transparency 2.0).

Leaves are the audit records' chain hashes. ``leaf_hash = SHA-256(0x00 || data)``,
``node_hash = SHA-256(0x01 || left || right)``; the tree hash of n leaves splits at the largest
power of two below n (RFC 9162 §2.1.1). :class:`Frontier` keeps only the roots of the perfect
subtrees (at most log2 n hashes), enough to compute the root after every append, so the
sequencer's state stays small. Inclusion proofs follow §2.1.3; consistency proofs, which show
that an older tree is a prefix of a newer one (the log only grew), follow §2.1.4.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from streams.i18n import msg

__all__ = [
    "Frontier",
    "consistency_problem",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_proof",
    "tree_hash",
]


def leaf_hash(data: bytes) -> bytes:
    """Hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of already-hashed leaves (RFC 9162 §2.1.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(tree_hash(leaves[:k]), tree_hash(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), tree_hash(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), tree_hash(leaves[:k])]


def root_from_proof(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None if it is malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


class Frontier:
    """The roots of the perfect subtrees of a growing tree: append a leaf, read the root."""

    def __init__(self, size: int = 0, roots: Sequence[bytes] = ()) -> None:
        self.size = size
        self.roots = list(roots)
        if len(self.roots) != bin(size).count("1"):
            raise ValueError("a frontier holds one root per set bit of its size")

    def append(self, leaf: bytes) -> None:
        """Add one (already hashed) leaf."""
        node, size = leaf, self.size
        while size & 1:
            node = node_hash(self.roots.pop(), node)
            size >>= 1
        self.roots.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The tree hash of every leaf appended so far."""
        if not self.roots:
            return tree_hash([])  # mutation-equivalent: tree_hash(None) is the empty tree too
        node = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            node = node_hash(left, node)
        return node


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of the first ``old_size`` of ``leaves`` is a prefix of the tree
    of all of them (RFC 9162 §2.1.4.1, ``PROOF(m, D[n])``); empty when the sizes are equal or
    the old tree is empty."""
    if not 0 <= old_size <= len(leaves):
        raise ValueError(f"a tree of {old_size} is not a prefix of a tree of {len(leaves)}")
    if old_size in (0, len(leaves)):
        return []
    return _subproof(old_size, leaves, complete=True)


def _subproof(m: int, leaves: Sequence[bytes], *, complete: bool) -> list[bytes]:
    """``SUBPROOF(m, D[n], b)``: ``complete`` is b, true while the old tree's root is a node of
    the new tree that the verifier already holds (so it is left out)."""
    n = len(leaves)
    if m == n:
        return [] if complete else [tree_hash(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete=complete), tree_hash(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], complete=False), tree_hash(leaves[:k])]


def consistency_problem(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> str | None:
    """Why ``proof`` does not show the tree of ``old_size`` with ``old_root`` to be a prefix of
    the tree of ``new_size`` with ``new_root`` (RFC 9162 §2.1.4.2), or None when it does."""
    if not 0 <= old_size <= new_size:
        return msg(
            "a tree of {old_size} records cannot be a prefix of one of {new_size}",
            old_size=old_size,
            new_size=new_size,
        )
    if old_size == new_size:
        if proof:
            return msg("a proof between trees of one size must be empty")
        return None if old_root == new_root else msg("two different roots for one tree size")
    if old_size == 0:
        return None if not proof else msg("a proof from the empty tree must be empty")
    if not proof:
        return msg("the proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a perfect subtree of the new one
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return msg("the proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return msg("the proof is too short")
    if fr != old_root:
        return msg("the proof does not lead to the older root")
    if sr != new_root:
        return msg("the proof does not lead to the newer root")
    return None
