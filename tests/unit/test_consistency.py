"""Consistency proofs (RFC 9162 §2.1.4) between trees and between signed checkpoints.

Known answers: the happy-path consistency proofs of transparency-dev/merkle
(https://github.com/transparency-dev/merkle), ``testdata/consistency/{0,1,2,3,4}/happy-path.json``
(base64 there, hex here), over the RFC 6962 test leaves of ``testonly/constants.go``. The oracle
for every other pair of sizes is independent of the proof code: the two roots recomputed from
the leaves with ``tree_hash`` (pymerkle, GPL, is not used).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from streams.audit.chain import seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.consistency import (
    check_consistency,
    checkpoint_from_json,
    checkpoint_json,
    first_difference,
    make_consistency_proof,
    require_extension,
)
from streams.audit.merkle import consistency_problem, consistency_proof, leaf_hash, tree_hash
from streams.errors import ConfigError, InconsistentLogError, SignatureError
from tests.factories import NOW
from tests.unit.test_checkpoint import KEY, KEYS, KID, log
from tests.unit.test_merkle import KNOWN_LEAVES, ROOT_HASHES

LEAVES = [leaf_hash(b"record %d" % i) for i in range(64)]
ROOTS = [tree_hash(LEAVES[:n]) for n in range(65)]
PAIRS = [(m, n) for n in range(1, 65) for m in range(1, n + 1)]

# (old size, new size, proof) from testdata/consistency/*/happy-path.json; roots are ROOT_HASHES.
KNOWN_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize(
    ("old", "new", "proof"), KNOWN_PROOFS, ids=[f"{m}-to-{n}" for m, n, _ in KNOWN_PROOFS]
)
def test_known_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    """consistency_proof builds the reference's proof, and that proof joins the two reference
    roots."""
    path = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(old, KNOWN_LEAVES[:new]) == path
    assert consistency_problem(old, new, ROOT_HASHES[old], ROOT_HASHES[new], path) is None


def test_every_pair_of_sizes_up_to_64_verifies() -> None:
    """For every 1 <= m <= n <= 64 the proof joins the roots recomputed from the leaves, and
    not the roots of other sizes."""
    for m, n in PAIRS:
        path = consistency_proof(m, LEAVES[:n])
        assert consistency_problem(m, n, ROOTS[m], ROOTS[n], path) is None, (m, n)
        if m < n:
            assert consistency_problem(m, n, ROOTS[m], ROOTS[n - 1], path) is not None, (m, n)
            assert consistency_problem(m, n, ROOTS[m - 1], ROOTS[n], path) is not None, (m, n)


def test_a_flipped_byte_anywhere_fails_for_every_pair_up_to_64() -> None:
    """For every pair, one flipped bit in any proof hash or in either root fails; which byte
    is flipped moves with the pair, so every position is covered."""
    for m, n in PAIRS:
        path = consistency_proof(m, LEAVES[:n])
        at = (m * 7 + n) % 32
        for i in range(len(path)):
            bad = [*path[:i], _flip(path[i], at), *path[i + 1 :]]
            assert consistency_problem(m, n, ROOTS[m], ROOTS[n], bad) is not None, (m, n, i)
        assert consistency_problem(m, n, _flip(ROOTS[m], at), ROOTS[n], path) is not None
        assert consistency_problem(m, n, ROOTS[m], _flip(ROOTS[n], at), path) is not None


@pytest.mark.parametrize(("m", "n"), [(1, 8), (6, 8), (5, 13), (31, 64), (33, 64)])
def test_every_byte_of_a_proof_matters(m: int, n: int) -> None:
    """Flipping each byte of each hash of a proof, one at a time, fails every time."""
    path = consistency_proof(m, LEAVES[:n])
    for i, node in enumerate(path):
        for at in range(32):
            bad = [*path[:i], _flip(node, at), *path[i + 1 :]]
            assert consistency_problem(m, n, ROOTS[m], ROOTS[n], bad) is not None, (i, at)


def test_a_proof_of_the_wrong_length_fails() -> None:
    """A hash left off, one added, or the proof given for other sizes fails."""
    for m, n in [(1, 8), (3, 7), (6, 8), (17, 40)]:
        path = consistency_proof(m, LEAVES[:n])
        assert consistency_problem(m, n, ROOTS[m], ROOTS[n], path[:-1]) is not None
        assert consistency_problem(m, n, ROOTS[m], ROOTS[n], [*path, LEAVES[0]]) is not None
        assert consistency_problem(m, n, ROOTS[m], ROOTS[n], []) == "the proof is empty"
        assert consistency_problem(m + 1, n, ROOTS[m + 1], ROOTS[n], path) is not None


def test_edge_sizes() -> None:
    """Equal sizes need an empty proof and one root; the empty tree precedes any; an older
    tree larger than the newer is refused; the generator refuses sizes outside the tree."""
    assert consistency_problem(5, 5, ROOTS[5], ROOTS[5], []) is None
    one_size = consistency_problem(5, 5, ROOTS[5], ROOTS[4], [])
    assert one_size == "two different roots for one tree size"
    assert consistency_problem(5, 5, ROOTS[5], ROOTS[5], [LEAVES[0]]) is not None
    assert consistency_problem(0, 9, ROOTS[0], ROOTS[9], []) is None
    assert consistency_problem(9, 5, ROOTS[9], ROOTS[5], []) is not None
    assert consistency_proof(0, LEAVES[:4]) == []
    with pytest.raises(ValueError, match="not a prefix"):
        consistency_proof(5, LEAVES[:4])


# --- between signed checkpoints -----------------------------------------------------------


def _checkpoint(records: list[dict[str, Any]], size: int) -> dict[str, Any]:
    leaves = [leaf_hash(r["hash"]) for r in records[:size]]
    return sign_checkpoint(
        tree_size=size, root_hash=tree_hash(leaves), head_hash=records[size - 1]["hash"],
        key_id=KID, signing_key=KEY, now=NOW,
    )  # fmt: skip


def rewrite(records: list[dict[str, Any]], at: int, extra: int = 0) -> list[dict[str, Any]]:
    """What an insider with the exchange key can do: change record ``at`` (its recipient),
    re-seal it and every later one, and append ``extra`` more."""
    out = records[:at]
    for i, record in enumerate([*records[at:], *(records[-1:] * extra)], start=at):
        content = dict(record, disclosure_id=f"d-{i}")
        if i == at:
            content["recipient"] = "another-agency"
        prev = out[-1]["hash"] if out else bytes(32)
        out.append(
            seal_record(content, sequence=i, prev_hash=prev, key_id=KID, signing_key=KEY, now=NOW)
        )
    return out


def test_a_grown_log_extends_its_earlier_checkpoint_offline() -> None:
    """The JSON proof between two checkpoints of one growing log checks with the public key
    alone and says which checkpoint extends which."""
    records, new = log(12)
    old = _checkpoint(records, 5)
    proof = make_consistency_proof(old, new, [r["hash"] for r in records])
    account = check_consistency(proof, KEYS)
    assert "the checkpoint of 12 records" in account
    assert "extends the checkpoint of 5 records" in account


def test_a_rewritten_log_names_the_size_where_it_disagrees() -> None:
    """An insider changes record 3 and re-signs the chain and a new checkpoint with the
    exchange key: the new checkpoint verifies alone, but not as an extension of one kept from
    before; the error names both sizes and both roots."""
    records, _ = log(10)
    old = _checkpoint(records, 6)
    rewritten = rewrite(records, 3, extra=4)
    new = _checkpoint(rewritten, 14)
    with pytest.raises(InconsistentLogError) as caught:
        require_extension(old, new, [r["hash"] for r in rewritten])
    error = caught.value
    assert (error.old_size, error.new_size) == (6, 14)
    assert "disagree at size 6" in str(error)
    assert old["root_hash"].hex() in str(error)
    assert new["root_hash"].hex() in str(error)
    assert first_difference([r["hash"] for r in records], [r["hash"] for r in rewritten]) == 3
    assert first_difference([r["hash"] for r in records], [r["hash"] for r in records]) is None


def test_a_forged_proof_between_other_logs_fails() -> None:
    """A proof whose older checkpoint was swapped for one of another log fails with both
    sizes; a checkpoint signed by an unknown key fails as a signature problem."""
    records, new = log(9)
    proof = make_consistency_proof(_checkpoint(records, 4), new, [r["hash"] for r in records])
    forged = dict(proof, old=checkpoint_json(_checkpoint(rewrite(records, 2), 4)))
    with pytest.raises(InconsistentLogError, match="size 4"):
        check_consistency(forged, KEYS)
    with pytest.raises(SignatureError):
        check_consistency(proof, {})


def test_a_log_cut_below_the_older_checkpoint_is_refused() -> None:
    """A newer checkpoint over fewer records than the older one is no extension of it."""
    records, old = log(8)
    with pytest.raises(InconsistentLogError, match="fewer records"):
        require_extension(old, _checkpoint(records, 5), [r["hash"] for r in records])


def test_checkpoint_json_round_trips_and_names_bad_input() -> None:
    """A checkpoint survives its JSON form with its signature intact; a malformed one is a
    ConfigError naming the input."""
    _, checkpoint = log(3)
    assert checkpoint_from_json(checkpoint_json(checkpoint), "x") == checkpoint
    with pytest.raises(ConfigError, match=r"old\.json: not a signed checkpoint"):
        checkpoint_from_json({"tree_size": "3"}, "old.json")
    with pytest.raises(ConfigError):
        checkpoint_from_json(None, "old.json")


def test_from_the_empty_tree_only_the_empty_proof_is_consistent() -> None:
    """Every tree extends the empty one, with an empty proof; a non-empty proof from size 0 is
    refused (RFC 9162 2.1.4: there is nothing for it to prove)."""
    new_root = hashlib.sha256(b"any root").digest()
    assert consistency_problem(0, 5, b"", new_root, []) is None
    assert consistency_problem(0, 5, b"", new_root, [new_root]) == (
        "a proof from the empty tree must be empty"
    )
