"""``intelshare audit consistency OLD NEW``: is the newer signed checkpoint an append-only
extension of the older one? Offline when NEW (or OLD) is an export, which carries the records
to recompute the trees from; otherwise the records are read from intel.audit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams.audit.checkpoint import verify_checkpoint
from streams.audit.consistency import (
    describe,
    first_difference,
    make_consistency_proof,
)
from streams.audit.merkle import leaf_hash, tree_hash
from streams.cli.auditfiles import CheckpointSource, broker_hashes, checkpoint_source
from streams.cli.common import verification_keys
from streams.errors import ConfigError, InconsistentLogError, SignatureError
from streams.i18n import _, localise, msg
from streams.settings import Settings

__all__ = ["audit_consistency"]


def audit_consistency(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when NEW extends OLD, 1 naming the size at which they disagree (or the bad
    signature), 2 for files or sizes that cannot be read."""
    old = checkpoint_source(settings, args.old)
    new = checkpoint_source(settings, args.new)
    keys = verification_keys(settings, args.exchange_key).keys
    for source in (old, new):
        try:
            verify_checkpoint(source.checkpoint, keys)
        except SignatureError as exc:
            print(
                _("NOT CONSISTENT: {label}: {exc}", label=localise(source.label), exc=localise(exc))
            )
            return 1
    m, n = old.checkpoint["tree_size"], new.checkpoint["tree_size"]
    if m > n:
        raise ConfigError(
            msg("OLD covers {m} records and NEW {n}: give the earlier checkpoint first", m=m, n=n)
        )
    hashes, origin = _records(settings, old, new)
    problem = _against(new, hashes, origin)
    if problem is not None:
        print(_("NOT CONSISTENT: {problem}", problem=problem))
        return 1
    try:
        proof = make_consistency_proof(old.checkpoint, new.checkpoint, hashes)
    except InconsistentLogError as exc:
        print(_("NOT CONSISTENT: {exc}", exc=localise(exc)))
        if old.hashes is not None:
            where = first_difference(old.hashes, hashes)
            if where is not None:
                print(
                    _(
                        "the first record that differs between the two is sequence {where}",
                        where=where,
                    )
                )
        return 1
    print(
        _(
            "consistent: {describe} extends {describe2} (RFC 9162 consistency proof of {count} "
            "hashes verified)",
            describe=localise(describe(new.checkpoint)),
            describe2=localise(describe(old.checkpoint)),
            count=len(proof["consistency_path"]),
        )
    )
    if args.out:
        proof["cosignatures"] = list(new.cosignatures)  # of NEW, for check-proof --witness-key
        Path(args.out).write_text(json.dumps(proof, indent=2) + "\n", encoding="utf-8")
        print(
            _("proof written to {out} (check it with `audit check-proof`)", out=args.out),
            file=sys.stderr,
        )
    return 0


def _records(
    settings: Settings, old: CheckpointSource, new: CheckpointSource
) -> tuple[list[bytes], str]:
    """The chain hashes to recompute from: NEW's export, else OLD's when it covers NEW, else
    intel.audit."""
    n = new.checkpoint["tree_size"]
    for source in (new, old):
        if source.hashes is not None and len(source.hashes) >= n:
            return list(source.hashes), source.label
    return broker_hashes(settings), "intel.audit"


def _against(new: CheckpointSource, hashes: list[bytes], origin: str) -> str | None:
    """Why the records read do not make NEW's tree, or None."""
    n = new.checkpoint["tree_size"]
    if len(hashes) < n:
        return _(
            "{origin} holds {count} records, fewer than the {n} of {label}",
            origin=localise(origin),
            count=len(hashes),
            n=n,
            label=localise(new.label),
        )
    if tree_hash([leaf_hash(h) for h in hashes[:n]]) != new.checkpoint["root_hash"]:
        return _(
            "the first {n} records of {origin} do not hash to the root of {label}",
            n=n,
            origin=localise(origin),
            label=localise(new.label),
        )
    return None
