"""The Merkle tree of RFC 9162: roots, the frontier, and inclusion proofs."""

from __future__ import annotations

import hashlib

import pytest

from streams.audit.merkle import Frontier, inclusion_proof, leaf_hash, root_from_proof, tree_hash

LEAVES = [leaf_hash(bytes([i])) for i in range(40)]


def test_empty_and_single_trees() -> None:
    """The empty tree hashes to SHA-256 of nothing; one leaf is its own root."""
    assert tree_hash([]) == hashlib.sha256(b"").digest()
    assert tree_hash(LEAVES[:1]) == LEAVES[0]


def test_rfc_9162_shape_for_three_leaves() -> None:
    """Three leaves: the left subtree holds two (the largest power of two below three)."""
    from streams.audit.merkle import node_hash

    a, b, c = LEAVES[:3]
    assert tree_hash([a, b, c]) == node_hash(node_hash(a, b), c)


@pytest.mark.parametrize("size", range(1, 41))
def test_frontier_root_equals_tree_hash(size: int) -> None:
    """Appending leaf by leaf gives the same root as hashing the whole tree."""
    frontier = Frontier()
    for leaf in LEAVES[:size]:
        frontier.append(leaf)
    assert frontier.root() == tree_hash(LEAVES[:size])
    assert len(frontier.roots) == bin(size).count("1")
    restored = Frontier(frontier.size, frontier.roots)
    restored.append(leaf_hash(b"next"))
    assert restored.root() == tree_hash([*LEAVES[:size], leaf_hash(b"next")])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 32, 40])
def test_every_inclusion_proof_verifies(size: int) -> None:
    """Each leaf's proof leads to the root; another leaf or index does not."""
    root = tree_hash(LEAVES[:size])
    for index in range(size):
        path = inclusion_proof(index, LEAVES[:size])
        assert root_from_proof(index, size, LEAVES[index], path) == root
        wrong = leaf_hash(b"changed")
        assert root_from_proof(index, size, wrong, path) != root
        if size > 1:
            other = (index + 1) % size
            assert root_from_proof(other, size, LEAVES[index], path) != root


def test_malformed_proofs_lead_nowhere() -> None:
    """A path of the wrong length or an index outside the tree gives no root."""
    path = inclusion_proof(3, LEAVES[:8])
    assert root_from_proof(3, 8, LEAVES[3], path[:-1]) is None
    assert root_from_proof(3, 8, LEAVES[3], [*path, LEAVES[0]]) is None
    assert root_from_proof(8, 8, LEAVES[3], path) is None
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(8, LEAVES[:8])
