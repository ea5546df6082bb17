"""Consultation receipts: an agency's signed statement that it opened a disclosure.

``intelshare consume`` signs one receipt per disclosure it decrypts (with the agency's Ed25519
receipt key, ``ID.sign.key``) and publishes it on ``intel.receipts``; oversight verifies each
against the receipt key the agency registered and shows when each disclosure was received.

A receipt also names the latest signed checkpoint the agency verified (its size and root;
receipt v2): the agencies thus gossip what the exchange showed them, and :func:`split_views`
finds a receipt whose checkpoint the log does not agree with, which exposes an exchange that
showed different logs to different parties.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.audit.merkle import Frontier, leaf_hash
from streams.core.canonical import canonical
from streams.core.crypto import key_id, sign, verify
from streams.core.times import to_millis
from streams.errors import SignatureError
from streams.i18n import Message, msg

__all__ = ["make_receipt", "received_times", "split_views", "verified_receipts"]

_DOMAIN = "intelshare-receipt-v1"
_DOMAIN_CHECKPOINT = "intelshare-receipt-v2"


def _signed(receipt: Mapping[str, Any]) -> bytes:
    """v1 bytes for a receipt naming no checkpoint (so v1 receipts still verify), else v2."""
    fields = (
        receipt["disclosure_id"], receipt["agency_id"], receipt["received_at"], receipt["key_id"]
    )  # fmt: skip
    size = receipt.get("checkpoint_size") or 0
    if not size:
        return canonical(_DOMAIN, *fields)
    return canonical(_DOMAIN_CHECKPOINT, *fields, size, receipt["checkpoint_root"])


def make_receipt(
    disclosure_id: str,
    agency_id: str,
    key: Ed25519PrivateKey,
    now: datetime,
    checkpoint: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A signed receipt record (schemas/receipt.v2.avsc), naming ``checkpoint`` (the latest
    signed checkpoint the agency verified) when given."""
    receipt = {
        "disclosure_id": disclosure_id,
        "agency_id": agency_id,
        "received_at": to_millis(now),
        "key_id": key_id(key.public_key().public_bytes_raw()),
        "checkpoint_size": checkpoint["tree_size"] if checkpoint else 0,
        "checkpoint_root": checkpoint["root_hash"] if checkpoint else b"",
    }
    receipt["signature"] = sign(key, _signed(receipt))
    return receipt


def verified_receipts(
    receipts: Iterable[Mapping[str, Any]], agency_keys: Mapping[str, bytes]
) -> Iterator[Mapping[str, Any]]:
    """The receipts that verify against the raw receipt key their agency registered
    (``agency_keys`` by agency id); the others are left out."""
    for receipt in receipts:
        raw = agency_keys.get(receipt["agency_id"], b"")
        if len(raw) != 32 or key_id(raw) != receipt["key_id"]:
            continue
        try:
            verify(Ed25519PublicKey.from_public_bytes(raw), receipt["signature"], _signed(receipt))
        except SignatureError:
            continue
        yield receipt


def received_times(
    receipts: Iterable[Mapping[str, Any]], agency_keys: Mapping[str, bytes]
) -> dict[str, datetime]:
    """First verified receipt time per disclosure id. ``agency_keys`` maps an agency id to its
    registered raw receipt key; receipts that do not verify against it are ignored."""
    first: dict[str, datetime] = {}
    for receipt in verified_receipts(receipts, agency_keys):
        ident = receipt["disclosure_id"]
        if ident not in first or receipt["received_at"] < first[ident]:
            first[ident] = receipt["received_at"]
    return first


def split_views(
    receipts: Iterable[Mapping[str, Any]],
    agency_keys: Mapping[str, bytes],
    chain_hashes: Sequence[bytes],
) -> list[Message]:
    """For each verified receipt whose named checkpoint the log does not agree with (more
    records than the log holds, or another root at that size), what it shows."""
    named = [r for r in receipts if r.get("checkpoint_size")]
    sizes = {r["checkpoint_size"] for r in named}
    roots: dict[int, bytes] = {}
    frontier = Frontier()
    for chain_hash in chain_hashes if sizes else ():
        frontier.append(leaf_hash(chain_hash))
        if frontier.size in sizes:
            roots[frontier.size] = frontier.root()
            if len(roots) == len(sizes):
                break
    # Only a receipt the log disagrees with can show a split view, so only those have their
    # agency's signature checked (the one Ed25519 check per receipt was most of this):
    # the same receipts are reported, in the same order, as when every one was verified first.
    disagreeing = [r for r in named if roots.get(r["checkpoint_size"]) != r["checkpoint_root"]]
    found = []
    for receipt in verified_receipts(disagreeing, agency_keys):
        size, root = receipt["checkpoint_size"], receipt["checkpoint_root"]
        shown = {
            "agency_id": receipt["agency_id"],
            "disclosure_id": receipt["disclosure_id"],
            "size": size,
            "root": root.hex(),
        }
        if size in roots:
            found.append(
                msg(
                    "agency {agency_id} opened disclosure {disclosure_id} having verified a "
                    "checkpoint of {size} records with root {root}, but the log's first {size} "
                    "records hash to {log_root}: the exchange showed it a different log (a split "
                    "view)",
                    log_root=roots[size].hex(),
                    **shown,
                )
            )
        else:
            found.append(
                msg(
                    "agency {agency_id} opened disclosure {disclosure_id} having verified a "
                    "checkpoint of {size} records with root {root}, but the log holds only "
                    "{held} records: the exchange showed it a different log (a split view)",
                    held=len(chain_hashes),
                    **shown,
                )
            )
    return found
