"""The one verification path of the disclosure log, shared by ``intelshare audit verify``, the
oversight page and its JSON API: every hash link and signature from the first record (a key
used after its retirement counts as unknown), then the log against the latest signed checkpoint.

Reconciliation with the feeds is not here: it needs the feeds, which only the exchange's
operator may read (:func:`streams.audit.records.reconcile`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from streams.audit.chain import ChainVerifier
from streams.audit.checkpoint import against_checkpoint, log_against_checkpoint
from streams.errors import ChainBrokenError
from streams.i18n import msg

__all__ = ["VERIFIED", "ChainStatus", "VerificationKeys", "key_hint", "verify_log"]


class VerificationKeys(NamedTuple):
    """The exchange's published signing keys, and when the rotated-out ones were retired."""

    keys: Mapping[str, Ed25519PublicKey]
    """Public keys by key id, current and rotated."""
    retired: Mapping[str, datetime]
    """Retirement time by key id: a record a key signed after it is refused."""


class ChainStatus(NamedTuple):
    """What verification says about the integrity of the log."""

    sound: bool
    """True when every hash link and signature verifies and the checkpoint agrees."""
    records: int
    """Records verified before the first broken one (all of them when sound)."""
    broken_at: int | None
    """The first bad sequence number, or None (also None for a checkpoint problem)."""
    detail: str
    """One line saying what was verified or what is wrong."""
    key_problem: bool = False
    """True when the cause may be the keys given rather than the log (an unknown key)."""


VERIFIED = msg("hash links and signatures verified")
"""The detail of a sound chain."""


def verify_log(
    records: Iterable[Mapping[str, Any]],
    checkpoint: Mapping[str, Any] | None,
    keys: VerificationKeys,
) -> ChainStatus:
    """Verify the chain from the first record, then the log against ``checkpoint``."""
    verifier = ChainVerifier(keys.keys, keys.retired)
    seen: list[Mapping[str, Any]] = []
    try:
        for record in records:
            verifier.feed(record)
            seen.append(record)
    except ChainBrokenError as exc:
        unknown = "unknown key" in exc.reason
        return ChainStatus(False, verifier.count, exc.sequence, exc.reason, unknown)
    if checkpoint is not None:
        problem = log_against_checkpoint(seen, checkpoint, keys.keys)
        if problem:
            unknown = "unknown key" in problem
            detail = against_checkpoint(checkpoint["tree_size"], problem)
            return ChainStatus(False, verifier.count, None, detail, unknown)
    return ChainStatus(True, verifier.count, None, VERIFIED)


def key_hint(status: ChainStatus) -> str:
    """What to check when the keys, not the log, may be the cause."""
    if not status.key_problem:
        return ""
    return msg(
        "the log may be sound: check the exchange keys given (--exchange-key, or the "
        "exchange*.pub files in $INTELSHARE_HOME/keys) against those the exchange published"
    )
