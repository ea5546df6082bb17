"""The Merkle tree of RFC 9162: roots, the frontier, and inclusion proofs.

Besides checking the tree against itself, it is held to known answers: the RFC 6962 vectors of
transparency-dev/merkle (https://github.com/transparency-dev/merkle, commit 417fb0c3),
``testonly/constants.go``: ``LeafInputs()``, ``NodeHashes()``, ``RootHashes()`` (tree sizes 0 to 8,
size 0 being ``EmptyRootHash()``) and ``CompactTrees()``; and the inclusion proofs of
``testdata/inclusion/{0,1,2,3,4}/happy-path.json`` in the same repository (base64 there, hex here).
Our leaves reach ``tree_hash`` already hashed, so the inputs go through ``leaf_hash`` first.
"""

from __future__ import annotations

import hashlib

import pytest

from streams.audit.merkle import Frontier, inclusion_proof, leaf_hash, root_from_proof, tree_hash

LEAVES = [leaf_hash(bytes([i])) for i in range(40)]

# transparency-dev/merkle testonly/constants.go: LeafInputs()
LEAF_INPUTS = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
KNOWN_LEAVES = [leaf_hash(x) for x in LEAF_INPUTS]

# NodeHashes(): the hashes of every complete subtree, by level (0: the leaves) and position.
NODE_HASHES = [
    [
        bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        bytes.fromhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        bytes.fromhex("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        bytes.fromhex("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        bytes.fromhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        bytes.fromhex("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        bytes.fromhex("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        bytes.fromhex("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        bytes.fromhex("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        bytes.fromhex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        bytes.fromhex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]

# RootHashes(): the root of the tree of the first n inputs, n = 0 (EmptyRootHash()) to 8.
ROOT_HASHES = [
    bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    bytes.fromhex("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    bytes.fromhex("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    bytes.fromhex("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    bytes.fromhex("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# CompactTrees(): the perfect-subtree roots of the tree of n inputs, largest first, as
# (level, position) in NODE_HASHES.
COMPACT_TREES = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

# testdata/inclusion/{0,1,2,3,4}/happy-path.json: (leaf index, tree size, root, leaf hash, proof).
INCLUSION_VECTORS = [
    (0, 1, ROOT_HASHES[1], NODE_HASHES[0][0], []),
    (
        0,
        8,
        bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
        bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        [
            bytes.fromhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            bytes.fromhex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
        bytes.fromhex("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        [
            bytes.fromhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            bytes.fromhex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        3,
        bytes.fromhex("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
        bytes.fromhex("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        [
            bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        ],
    ),
    (
        1,
        5,
        bytes.fromhex("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
        bytes.fromhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        [
            bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            bytes.fromhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            bytes.fromhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]


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


# --- known answers (transparency-dev/merkle) ----------------------------------------------


def test_known_leaf_hashes() -> None:
    """leaf_hash of each RFC 6962 test input is the level-0 node hash of the reference."""
    assert NODE_HASHES[0] == KNOWN_LEAVES


@pytest.mark.parametrize("size", range(9))
def test_known_root_hashes(size: int) -> None:
    """The tree of the first n test inputs has the reference root, from the empty tree to 8."""
    assert tree_hash(KNOWN_LEAVES[:size]) == ROOT_HASHES[size]


def test_known_complete_subtree_hashes() -> None:
    """Every perfect subtree of the eight test inputs hashes to the reference node hash."""
    for level, nodes in enumerate(NODE_HASHES):
        width = 2**level
        for position, expected in enumerate(nodes):
            subtree = KNOWN_LEAVES[position * width : (position + 1) * width]
            assert tree_hash(subtree) == expected, (level, position)


def test_frontier_reproduces_known_roots() -> None:
    """After each append the frontier's root is the reference root and its hashes the
    reference compact tree."""
    frontier = Frontier()
    assert frontier.root() == ROOT_HASHES[0]
    for size, leaf in enumerate(KNOWN_LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.root() == ROOT_HASHES[size], size
        assert frontier.roots == [NODE_HASHES[lv][pos] for lv, pos in COMPACT_TREES[size]], size


@pytest.mark.parametrize("size", range(1, 9))
def test_inclusion_proofs_lead_to_known_roots(size: int) -> None:
    """Each test input's proof in the tree of the first n leads to the reference root."""
    for index in range(size):
        path = inclusion_proof(index, KNOWN_LEAVES[:size])
        assert root_from_proof(index, size, KNOWN_LEAVES[index], path) == ROOT_HASHES[size]


@pytest.mark.parametrize(
    ("index", "size", "root", "leaf", "proof"),
    INCLUSION_VECTORS,
    ids=[f"leaf{v[0]}-of-{v[1]}" for v in INCLUSION_VECTORS],
)
def test_known_inclusion_proofs(
    index: int, size: int, root: bytes, leaf: bytes, proof: list[bytes]
) -> None:
    """inclusion_proof builds the reference's proof, and that proof leads to its root."""
    assert KNOWN_LEAVES[index] == leaf
    assert inclusion_proof(index, KNOWN_LEAVES[:size]) == proof
    assert root_from_proof(index, size, leaf, proof) == root
