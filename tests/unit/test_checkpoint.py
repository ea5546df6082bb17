"""Signed checkpoints and inclusion proofs, checked offline with only the public key."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import (
    check_proof,
    log_against_checkpoint,
    make_proof,
    sign_checkpoint,
)
from streams.audit.merkle import Frontier, leaf_hash
from streams.core.crypto import key_id
from streams.errors import SignatureError
from tests.factories import NOW
from tests.unit.test_chain import pending

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key().public_bytes_raw())
KEYS = {KID: KEY.public_key()}


def log(n: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """n chained records and the checkpoint the sequencer signs over them."""
    records, head, frontier = [], GENESIS, Frontier()
    for i in range(n):
        record = seal_record(
            pending(i), sequence=i, prev_hash=head, key_id=KID, signing_key=KEY, now=NOW
        )
        records.append(record)
        head = record["hash"]
        frontier.append(leaf_hash(head))
    checkpoint = sign_checkpoint(
        tree_size=n, root_hash=frontier.root(), head_hash=head, key_id=KID, signing_key=KEY, now=NOW
    )
    return records, checkpoint


@pytest.mark.parametrize("index", [0, 6, 12])
def test_proof_verifies_offline(index: int) -> None:
    """A record's proof against the checkpoint verifies with only the public key."""
    records, checkpoint = log(13)
    proof = make_proof(records[index], [r["hash"] for r in records], checkpoint)
    assert f"record {index} of the 13" in check_proof(proof, KEYS)


def test_proof_of_a_changed_record_fails() -> None:
    """Changing the record in the proof breaks it."""
    records, checkpoint = log(8)
    proof = make_proof(records[3], [r["hash"] for r in records], checkpoint)
    proof["record"]["recipient"] = "another-agency"
    with pytest.raises(SignatureError):
        check_proof(proof, KEYS)


def test_proof_against_another_checkpoint_fails() -> None:
    """A proof checked against a different (genuinely signed) checkpoint does not verify."""
    records, checkpoint = log(8)
    _, other = log(9)
    proof = make_proof(records[3], [r["hash"] for r in records], checkpoint)
    proof_other = make_proof(records[3], [r["hash"] for r in records], checkpoint)
    proof_other["checkpoint"] = make_proof(log(9)[0][3], [r["hash"] for r in log(9)[0]], other)[
        "checkpoint"
    ]
    with pytest.raises(SignatureError):
        check_proof(proof_other, KEYS)
    assert "record 3" in check_proof(proof, KEYS)


@pytest.mark.parametrize("field", ["tree_size", "root_hash", "signature"])
def test_altered_checkpoint_fails(field: str) -> None:
    """A checkpoint altered in the proof fails its signature."""
    records, checkpoint = log(8)
    proof = make_proof(records[2], [r["hash"] for r in records], checkpoint)
    altered = copy.deepcopy(proof)
    value = altered["checkpoint"][field]
    altered["checkpoint"][field] = value + 1 if isinstance(value, int) else "00" + value[2:]
    with pytest.raises(SignatureError):
        check_proof(altered, KEYS)


def test_malformed_proof_is_refused() -> None:
    """A proof missing its parts is refused, not crashed on."""
    with pytest.raises(SignatureError, match="malformed"):
        check_proof({"record": {}}, KEYS)


def test_log_cut_short_disagrees_with_checkpoint() -> None:
    """Records removed from the end of the log are caught by the signed tree size."""
    records, checkpoint = log(10)
    assert log_against_checkpoint(records, checkpoint, KEYS) is None
    assert "removed from its end" in str(log_against_checkpoint(records[:-2], checkpoint, KEYS))


def test_record_newer_than_checkpoint_has_no_proof() -> None:
    """A record after the checkpoint cannot be proven against it yet."""
    records, _ = log(6)
    _, early = log(4)
    with pytest.raises(ValueError, match="newer than the checkpoint"):
        make_proof(records[5], [r["hash"] for r in records], early)
