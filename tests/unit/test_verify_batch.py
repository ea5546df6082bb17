"""``audit verify`` authenticates the records a signed checkpoint covers by its one signature
(issue 15): every tampering the exhaustive check finds is still found, and reported alike;
``every_signature`` (``--every-signature``) still checks each record's own signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, record_hash, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.merkle import leaf_hash, tree_hash
from streams.audit.verify import VerificationKeys, batch_covered, verify_log
from streams.core.crypto import key_id, sign
from tests.factories import NOW
from tests.unit.test_verify import chain as signed_chain

OLD = Ed25519PrivateKey.generate()
NEW = Ed25519PrivateKey.generate()
RETIRED_AT = NOW + timedelta(minutes=5)


def _kid(key: Ed25519PrivateKey) -> str:
    return key_id(key.public_key().public_bytes_raw())


KEYS = VerificationKeys(
    {_kid(k): k.public_key() for k in (OLD, NEW)}, {_kid(OLD): RETIRED_AT}
)  # fmt: skip


def chain(count: int, signer: Ed25519PrivateKey = NEW) -> list[dict[str, Any]]:
    """``count`` records a minute apart, all signed by ``signer``."""
    return signed_chain([(signer, timedelta(minutes=i)) for i in range(count)])


def checkpoint(records: list[dict[str, Any]], size: int, signer: Ed25519PrivateKey = NEW) -> Any:
    """The exchange's signed checkpoint over the first ``size`` records."""
    return sign_checkpoint(
        tree_size=size, root_hash=tree_hash([leaf_hash(r["hash"]) for r in records[:size]]),
        head_hash=records[size - 1]["hash"], key_id=_kid(signer), signing_key=signer,
        now=NOW + timedelta(hours=1),
    )  # fmt: skip


def both(records: list[dict[str, Any]], signed: Any) -> tuple[Any, Any]:
    """The fast check's status and the exhaustive one's."""
    fast = verify_log(records, signed, KEYS, every_signature=False)
    return fast, verify_log(records, signed, KEYS, every_signature=True)


def test_a_sound_log_verifies_with_one_signature_per_checkpoint() -> None:
    records = chain(12)
    fast, full = both(records, checkpoint(records, 8))
    assert fast == full
    assert fast.sound
    assert fast.records == 12
    assert batch_covered(checkpoint(records, 8), KEYS) == 8
    assert batch_covered(None, KEYS) == 0


@pytest.mark.parametrize("at", [0, 3, 7])
def test_a_record_altered_under_a_checkpoint_is_caught_where_it_was_altered(at: int) -> None:
    """Changed content with the stored hash kept, or with the hash recomputed (it cannot be
    re-signed): found at that record, the report the exhaustive check gives."""
    records = chain(10)
    signed = checkpoint(records, 8)
    kept = [dict(r) for r in records]
    kept[at]["recipient"] = "tj-gknb"
    fast, full = both(kept, signed)
    assert fast == full
    assert not fast.sound
    assert fast.broken_at == at
    assert "does not match its hash" in fast.detail
    rehashed = [dict(r) for r in records]
    rehashed[at]["recipient"] = "tj-gknb"
    rehashed[at]["hash"] = record_hash(rehashed[at])
    fast, full = both(rehashed, signed)
    assert fast == full
    assert not fast.sound
    assert fast.broken_at == at
    assert "signature does not verify" in fast.detail


def test_a_whole_covered_prefix_rewritten_and_rechained_is_caught_by_the_root() -> None:
    """Every covered record rewritten and re-chained (hashes and links consistent, own
    signatures stale): the signed root no longer matches."""
    records = chain(8)
    signed = checkpoint(records, 8)
    forged: list[dict[str, Any]] = []
    for record in records:
        prev = forged[-1]["hash"] if forged else GENESIS
        changed = dict(record, recipient="tj-gknb", prev_hash=prev)
        changed["hash"] = record_hash(changed)
        forged.append(changed)
    fast, full = both(forged, signed)
    assert fast == full
    assert not fast.sound


def test_a_bad_signature_after_the_last_checkpoint_is_caught() -> None:
    records = chain(10)
    records[9] = dict(records[9], signature=sign(OLD, records[9]["hash"]))
    fast, full = both(records, checkpoint(records, 8))
    assert fast == full
    assert not fast.sound
    assert fast.broken_at == 9
    assert "signature does not verify" in fast.detail


def test_a_record_signed_by_a_retired_key_after_its_retirement_is_caught_under_a_checkpoint() -> (
    None
):
    """The old key signed record 7 at NOW + 7 min, after its retirement at NOW + 5 min; the
    current key's checkpoint covers it. Its signature is good: the retirement is what is
    wrong, and it is checked for covered records too."""
    records = chain(7)
    late = chain(8, OLD)[7]
    late = seal_record(
        {k: v for k, v in late.items() if k not in ("hash", "signature")},
        sequence=7, prev_hash=records[-1]["hash"], key_id=_kid(OLD), signing_key=OLD,
        now=late["recorded_at"],
    )  # fmt: skip
    records.append(late)
    fast, full = both(records, checkpoint(records, 8))
    assert fast == full
    assert not fast.sound
    assert fast.broken_at == 7
    assert "after it was retired" in fast.detail


def test_a_checkpoint_signed_by_a_retired_key_authenticates_nothing() -> None:
    """A retired key may have leaked: a record with a bad own signature under its checkpoint
    is still refused."""
    records = chain(6)
    records[2] = dict(records[2], signature=bytes(64))
    signed = checkpoint(records, 6, OLD)
    assert batch_covered(signed, KEYS) == 0
    fast, full = both(records, signed)
    assert fast == full
    assert not fast.sound
    assert fast.broken_at == 2


@pytest.mark.parametrize("at", range(6))
def test_every_signature_checks_each_records_own_signature(at: int) -> None:
    """A record whose own signature is bad, under a checkpoint the exchange signed over it
    anyway: only the exhaustive check sees it (the checkpoint vouches for the content); the
    fast one calls the log sound, as documented."""
    records = chain(6)
    records[at] = dict(records[at], signature=bytes(64))
    fast, full = both(records, checkpoint(records, 6))
    assert fast.sound
    assert not full.sound
    assert full.broken_at == at
    assert "signature does not verify" in full.detail


def test_a_cut_tail_and_an_unknown_key_are_reported_as_the_exhaustive_check_does() -> None:
    records = chain(8)
    signed = checkpoint(records, 8)
    fast, full = both(records[:5], signed)
    assert fast == full
    assert not fast.sound
    assert "removed from its end" in fast.detail
    stranger = Ed25519PrivateKey.generate()
    records[4] = seal_record(
        {k: v for k, v in records[4].items() if k not in ("hash", "signature")},
        sequence=4, prev_hash=records[3]["hash"], key_id=_kid(stranger), signing_key=stranger,
        now=records[4]["recorded_at"],
    )  # fmt: skip
    fast, full = both(records, signed)
    assert fast == full
    assert not fast.sound
    assert fast.broken_at == 4
    assert fast.key_problem
