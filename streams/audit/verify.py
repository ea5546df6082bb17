"""The one verification path of the disclosure log, shared by ``intelshare audit verify``, the
oversight page and its JSON API: every hash link and signature from the first record (a key
used after its retirement counts as unknown), then the log against the latest signed checkpoint.

Reconciliation with the feeds is not here: it needs the feeds, which only the exchange's
operator may read (:func:`streams.audit.records.reconcile`).

Two strengths of the same check (issue 15; about two thirds of the time of a full check was
one Ed25519 verification per record, some 150 us each, and pyca/cryptography has no batch
verification):

- ``every_signature=True`` (``audit verify --every-signature``, and the default of
  :func:`verify_log`): every record's own signature, as before.
- ``every_signature=False`` (``audit verify``): the records a signed checkpoint covers are
  authenticated by that one signature instead of one each. The checkpoint signs the RFC 9162
  root over the first ``tree_size`` chain hashes, and each chain hash is SHA-256 over the
  record's every field (its key id, time, sequence and the previous hash included). So once
  the hash of every record is recomputed from its content, every link checked and the root of
  those hashes found equal to the signed one, changing, inserting, removing or reordering a
  covered record means finding a SHA-256 second preimage or forging the checkpoint's
  signature: the same assumptions as forging the record's own signature. Records after the
  checkpoint have their own signatures checked.

  What this does not prove, and how it is kept: (1) a covered record whose own signature is
  bad: only the holder of the exchange's key could have signed a checkpoint over it, so it is
  the exchange's own fault, not a forgery; ``--every-signature`` finds it. (2) The key a record
  names must still be a published key, not used after its retirement: both are checked for
  every record, covered or not (the record's key id and time are under the root). (3) A
  retired key may leak later, and a checkpoint's own check does not look at retirement: a
  checkpoint signed with a retired key therefore authenticates nothing here, and every record
  under it has its own signature checked. The checkpoint used is the one given (the latest);
  an attacker cannot choose it without the exchange's key, since a bad one fails its own check.

A fast check that finds a problem re-runs the exhaustive one over the records read so far, so
the report (the first bad sequence number and why) is the one the exhaustive check gives: the
fast check verifies a subset of what the exhaustive one does, so the exhaustive one finds a
problem whenever the fast one does.
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

__all__ = [
    "VERIFIED",
    "ChainStatus",
    "VerificationKeys",
    "batch_covered",
    "key_hint",
    "verify_log",
]


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
    *,
    every_signature: bool = True,
) -> ChainStatus:
    """Verify the chain from the first record, then the log against ``checkpoint``; with
    ``every_signature=False``, the records ``checkpoint`` covers are authenticated by its
    signature rather than each by its own (see the module's docstring)."""
    covered = 0 if every_signature else batch_covered(checkpoint, keys)
    verifier = ChainVerifier(keys.keys, keys.retired)
    seen: list[Mapping[str, Any]] = []
    for record in records:
        try:
            verifier.feed(record, signature=verifier.count >= covered)
        except ChainBrokenError as exc:
            if covered:
                return verify_log([*seen, record], checkpoint, keys)
            unknown = "unknown key" in exc.reason
            return ChainStatus(False, verifier.count, exc.sequence, exc.reason, unknown)
        seen.append(record)
    if checkpoint is not None:
        problem = log_against_checkpoint(seen, checkpoint, keys.keys)
        if problem:
            if covered:
                return verify_log(seen, checkpoint, keys)
            unknown = "unknown key" in problem
            detail = against_checkpoint(checkpoint["tree_size"], problem)
            return ChainStatus(False, verifier.count, None, detail, unknown)
    return ChainStatus(True, verifier.count, None, VERIFIED)


def batch_covered(checkpoint: Mapping[str, Any] | None, keys: VerificationKeys) -> int:
    """How many of the first records ``checkpoint`` may authenticate in one signature: its
    ``tree_size``, or 0 without a checkpoint or when a retired key signed it (that key may have
    leaked since; the records under it are then each checked on their own signature)."""
    if checkpoint is None or checkpoint["key_id"] in keys.retired:
        return 0
    size = checkpoint["tree_size"]
    return size if type(size) is int and size > 0 else 0


def key_hint(status: ChainStatus) -> str:
    """What to check when the keys, not the log, may be the cause."""
    if not status.key_problem:
        return ""
    return msg(
        "the log may be sound: check the exchange keys given (--exchange-key, or the "
        "exchange*.pub files in $INTELSHARE_HOME/keys) against those the exchange published"
    )
