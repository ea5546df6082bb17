"""Consultation receipts: signed by the agency, verified against its registered key."""

from __future__ import annotations

from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.receipts import make_receipt, received_times
from tests.factories import NOW


def test_receipts_verify_against_the_registered_key() -> None:
    """Only receipts signed with the agency's registered receipt key count; the first wins."""
    agency_key, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    registered = {"kz-knb": agency_key.public_key().public_bytes_raw()}
    receipts = [
        make_receipt("d-1", "kz-knb", agency_key, NOW + timedelta(minutes=5)),
        make_receipt("d-1", "kz-knb", agency_key, NOW),
        make_receipt("d-2", "kz-knb", stranger, NOW),
        dict(make_receipt("d-3", "kz-knb", agency_key, NOW), disclosure_id="d-4"),
    ]
    assert received_times(receipts, registered) == {"d-1": NOW}
