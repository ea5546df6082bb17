"""Every field of a checkpoint is signed: changing any one alone, and nothing else, makes the
signature fail; and the signed bytes are the documented encoding (a known answer built here
by hand from the format, not with the code under test)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import (
    check_proof,
    log_against_checkpoint,
    make_proof,
    sign_checkpoint,
    verify_checkpoint,
)
from streams.audit.merkle import inclusion_proof, leaf_hash, tree_hash
from streams.errors import IntelshareError, SignatureError
from tests.factories import NOW
from tests.unit.test_chain import pending
from tests.unit.test_checkpoint import KEY, KEYS, KID, log

SIGNED = ("tree_size", "root_hash", "head_hash", "created_at", "key_id")
MOMENT = datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC)


def _tlv(tag: bytes, data: bytes) -> bytes:
    return tag + len(data).to_bytes(4, "big") + data


def _checkpoint() -> dict[str, Any]:
    return sign_checkpoint(
        tree_size=5, root_hash=bytes(range(32)), head_hash=bytes(range(32, 64)), key_id=KID,
        signing_key=KEY, now=MOMENT,
    )  # fmt: skip


def _other(field: str, value: Any) -> Any:
    """A different value of the same type, so only the signature can tell."""
    if field == "tree_size":
        return value + 1
    if field == "created_at":
        return value + timedelta(milliseconds=1)
    if field == "key_id":
        return "an-alias-of-the-same-key"
    return bytes([value[0] ^ 1]) + value[1:]


@pytest.mark.parametrize("field", SIGNED)
def test_each_signed_field_changed_alone_fails_verification(field: str) -> None:
    """A checkpoint with one field changed and its signature kept does not verify, even when
    the changed key id names the very key that signed it."""
    checkpoint = _checkpoint()
    verify_checkpoint(checkpoint, KEYS)
    keys = KEYS | {"an-alias-of-the-same-key": KEY.public_key()}
    changed = checkpoint | {field: _other(field, checkpoint[field])}
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(changed, keys)


def test_the_signature_itself_is_checked() -> None:
    """A flipped bit of the signature, or another key's signature, is refused."""
    checkpoint = _checkpoint()
    signature = checkpoint["signature"]
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    for wrong in (flipped, Ed25519PrivateKey.generate().sign(b"x")):
        with pytest.raises(SignatureError):
            verify_checkpoint(checkpoint | {"signature": wrong}, KEYS)


def test_an_unknown_key_is_named() -> None:
    """A checkpoint naming a key the verifier does not hold is refused, the key named."""
    with pytest.raises(SignatureError, match="unknown key no-such-key"):
        verify_checkpoint(_checkpoint() | {"key_id": "no-such-key"}, KEYS)


def test_signed_bytes_known_answer() -> None:
    """The signature is Ed25519 (deterministic) over the domain, then each field type-tagged
    and length-prefixed: S string, I decimal integer, Y bytes, T epoch milliseconds."""
    signed = (
        _tlv(b"S", b"intelshare-checkpoint-v1")
        + _tlv(b"I", b"5")
        + _tlv(b"Y", bytes(range(32)))
        + _tlv(b"Y", bytes(range(32, 64)))
        + _tlv(b"T", str(int(MOMENT.timestamp()) * 1000 + 123).encode())
        + _tlv(b"S", KID.encode())
    )
    checkpoint = _checkpoint()
    assert checkpoint["signature"] == KEY.sign(signed)
    assert set(checkpoint) == {*SIGNED, "signature"}
    assert checkpoint["created_at"] == MOMENT


def _hashes(records: list[dict[str, Any]]) -> list[bytes]:
    return [r["hash"] for r in records]


def test_proof_carries_the_checkpoint_and_the_audit_path() -> None:
    """A proof names the record's position and carries the signed checkpoint in hex and ISO
    form, and the RFC 9162 audit path of the record's leaf."""
    records, checkpoint = log(6)
    proof = make_proof(records[4], _hashes(records), checkpoint)
    leaves = [leaf_hash(h) for h in _hashes(records)]
    assert proof["leaf_index"] == 4
    assert proof["audit_path"] == [h.hex() for h in inclusion_proof(4, leaves)]
    assert proof["checkpoint"] == {
        "tree_size": 6,
        "root_hash": tree_hash(leaves).hex(),
        "head_hash": records[-1]["hash"].hex(),
        "created_at": checkpoint["created_at"].isoformat(),
        "key_id": KID,
        "signature": checkpoint["signature"].hex(),
    }
    assert check_proof(proof, KEYS) == (
        f"disclosure {records[4]['disclosure_id']} is record 4 of the 6 the exchange signed "
        f"at {checkpoint['created_at'].isoformat()}"
    )


def test_a_proof_only_for_records_the_checkpoint_covers() -> None:
    """The checkpoint's last record has a proof; the one after it has none; the proof uses
    only the records the checkpoint signed, however many the log holds since."""
    records, checkpoint = log(5)
    more, _ = log(7)
    proof = make_proof(records[4], _hashes(records) + _hashes(more)[5:], checkpoint)
    assert check_proof(proof, KEYS).startswith(f"disclosure {records[4]['disclosure_id']}")
    with pytest.raises(ValueError, match="record 5 is newer than the checkpoint of 5"):
        make_proof(more[5], _hashes(more), checkpoint)


def test_a_proof_at_another_position_fails() -> None:
    """A proof whose leaf index is not the record's sequence is refused."""
    records, checkpoint = log(6)
    proof = make_proof(records[2], _hashes(records), checkpoint)
    with pytest.raises(
        SignatureError, match=r"^the record does not match its own hash or position$"
    ):
        check_proof(proof | {"leaf_index": 3}, KEYS)


def test_a_proof_record_signed_by_an_unknown_key_fails() -> None:
    """The record's own signature is checked with the key its key id names."""
    records, checkpoint = log(4)
    proof = make_proof(records[1], _hashes(records), checkpoint)
    keys = KEYS | {"other": Ed25519PrivateKey.generate().public_key()}
    assert check_proof(proof, keys)
    proof["record"]["signature"] = bytes(64).hex()
    with pytest.raises(SignatureError):
        check_proof(proof, KEYS)


def test_a_proof_with_a_wrong_path_fails() -> None:
    """A changed step of the audit path, or one step too many, does not reach the root."""
    records, checkpoint = log(6)
    proof = make_proof(records[2], _hashes(records), checkpoint)
    path = proof["audit_path"]
    for wrong in ([bytes(32).hex(), *path[1:]], [*path, bytes(32).hex()], path[:-1]):
        with pytest.raises(
            SignatureError, match=r"^the audit path does not lead to the checkpoint's root$"
        ):
            check_proof(proof | {"audit_path": wrong}, KEYS)


@pytest.mark.parametrize(
    ("part", "value", "error"),
    [
        ("leaf_index", "x", "ValueError"),
        ("audit_path", ["zz"], "ValueError"),
        ("audit_path", None, "TypeError"),
        ("checkpoint", {}, "KeyError"),
        ("checkpoint", {"tree_size": "five"}, "ValueError"),
    ],
)
def test_a_malformed_proof_is_refused_not_a_crash(part: str, value: Any, error: str) -> None:
    """Junk in any part of a proof is refused as malformed, naming the kind of fault."""
    records, checkpoint = log(3)
    proof = make_proof(records[0], _hashes(records), checkpoint)
    with pytest.raises(SignatureError, match=rf"^the proof is malformed \({error}\)$"):
        check_proof(proof | {part: value}, KEYS)


def test_a_malformed_proof_record_is_named() -> None:
    """A record that is not an audit export row is refused, the proof's record named."""
    records, checkpoint = log(3)
    proof = make_proof(records[0], _hashes(records), checkpoint)
    with pytest.raises(IntelshareError, match=r"^proof record: not an audit export row"):
        check_proof(proof | {"record": {"sequence": 0}}, KEYS)


def test_the_log_agrees_with_its_own_checkpoint() -> None:
    """The log a checkpoint was signed over, and the same log grown since, agree with it."""
    records, checkpoint = log(5)
    assert log_against_checkpoint(records, checkpoint, KEYS) is None
    assert log_against_checkpoint(log(8)[0], checkpoint, KEYS) is None


def test_the_log_against_a_checkpoint_names_what_is_wrong() -> None:
    """A cut tail, a rewritten record and a forged checkpoint are each named."""
    records, checkpoint = log(5)
    assert log_against_checkpoint(records[:4], checkpoint, KEYS) == (
        "the log holds only 4: records were removed from its end"
    )
    rewritten = [*records[:2], records[2] | {"hash": hashlib.sha256(b"x").digest()}, *records[3:]]
    assert log_against_checkpoint(rewritten, checkpoint, KEYS) == (
        "the first records do not hash to the signed root"
    )
    forged = checkpoint | {"root_hash": tree_hash([leaf_hash(r["hash"]) for r in rewritten])}
    assert "does not verify" in str(log_against_checkpoint(rewritten, forged, KEYS))


def test_a_proof_record_signed_by_a_key_not_held_is_named() -> None:
    """A record signed with a key the verifier does not hold is refused, that key named, even
    when the checkpoint is signed with one it holds."""
    other = Ed25519PrivateKey.generate()
    record = seal_record(
        pending(0), sequence=0, prev_hash=GENESIS, key_id="other-key", signing_key=other, now=NOW
    )
    checkpoint = sign_checkpoint(
        tree_size=1, root_hash=leaf_hash(record["hash"]), head_hash=record["hash"], key_id=KID,
        signing_key=KEY, now=NOW,
    )  # fmt: skip
    proof = make_proof(record, [record["hash"]], checkpoint)
    with pytest.raises(SignatureError, match=r"^the record is signed with unknown key other-key$"):
        check_proof(proof, KEYS)
    assert check_proof(proof, KEYS | {"other-key": other.public_key()}).startswith("disclosure d-0")
