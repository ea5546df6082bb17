"""Consultation receipts: an agency's signed statement that it opened a disclosure.

``intelshare consume`` signs one receipt per disclosure it decrypts (with the agency's Ed25519
receipt key, ``ID.sign.key``) and publishes it on ``intel.receipts``; oversight verifies each
against the receipt key the agency registered and shows when each disclosure was received.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.core.canonical import canonical
from streams.core.crypto import key_id, sign, verify
from streams.core.times import to_millis
from streams.errors import SignatureError

__all__ = ["make_receipt", "received_times"]

_DOMAIN = "intelshare-receipt-v1"


def _signed(receipt: Mapping[str, Any]) -> bytes:
    return canonical(
        _DOMAIN, receipt["disclosure_id"], receipt["agency_id"], receipt["received_at"],
        receipt["key_id"],
    )  # fmt: skip


def make_receipt(
    disclosure_id: str, agency_id: str, key: Ed25519PrivateKey, now: datetime
) -> dict[str, Any]:
    """A signed receipt record (schemas/receipt.v1.avsc)."""
    receipt = {
        "disclosure_id": disclosure_id,
        "agency_id": agency_id,
        "received_at": to_millis(now),
        "key_id": key_id(key.public_key().public_bytes_raw()),
    }
    receipt["signature"] = sign(key, _signed(receipt))
    return receipt


def received_times(
    receipts: Iterable[Mapping[str, Any]], agency_keys: Mapping[str, bytes]
) -> dict[str, datetime]:
    """First verified receipt time per disclosure id. ``agency_keys`` maps an agency id to its
    registered raw receipt key; receipts that do not verify against it are ignored."""
    first: dict[str, datetime] = {}
    for receipt in receipts:
        raw = agency_keys.get(receipt["agency_id"], b"")
        if len(raw) != 32 or key_id(raw) != receipt["key_id"]:
            continue
        try:
            verify(Ed25519PublicKey.from_public_bytes(raw), receipt["signature"], _signed(receipt))
        except SignatureError:
            continue
        ident = receipt["disclosure_id"]
        if ident not in first or receipt["received_at"] < first[ident]:
            first[ident] = receipt["received_at"]
    return first
