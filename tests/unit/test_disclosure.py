"""Disclosures: deterministic ids, minimised payloads, verify-then-decrypt."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.crypto import key_id
from streams.disclosure import build_disclosure, disclosure_id, open_disclosure, payload_bytes
from streams.errors import DecryptionError, SignatureError
from streams.minimise import minimise
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement

SIGNING = Ed25519PrivateKey.generate()
EXCHANGE_ID = key_id(SIGNING.public_key().public_bytes_raw())
KEYS = {EXCHANGE_ID: SIGNING.public_key()}
SECRET = bytes(32)


def build(
    report: dict[str, Any] | None = None, **agreement: Any
) -> tuple[Any, Any, X25519PrivateKey]:
    private = X25519PrivateKey.generate()
    disclosure, pending = build_disclosure(
        report or enriched(),
        make_agreement(**agreement),
        recipient_public=private.public_key(),
        recipient_key_id="k1",
        signing_key=SIGNING,
        exchange_key_id=EXCHANGE_ID,
        pseudonym_secret=SECRET,
        now=NOW,
    )
    return disclosure, pending, private


def test_disclosure_id_is_deterministic() -> None:
    """The same event under the same agreement always gets the same id; others differ."""
    assert disclosure_id("e1", "A") == disclosure_id("e1", "A")
    assert disclosure_id("e1", "A") != disclosure_id("e1", "B")
    assert disclosure_id("e1|A", "") != disclosure_id("e1", "|A")


def test_recipient_opens_minimised_payload() -> None:
    """The recipient verifies and decrypts; only the agreed fields are there."""
    disclosure, _, private = build()
    payload = open_disclosure(disclosure, private, KEYS)
    assert set(payload) == {
        "event_id",
        "kind",
        "occurred_at",
        "facility_id",
        "category",
        "severity",
        "subjects",
        "narrative",
    }
    assert "unit_id" not in payload
    assert "grading" not in payload


def test_audit_entry_names_what_was_disclosed() -> None:
    """The pending audit entry carries agreement, legal basis, fields and the payload digest."""
    report = enriched()
    disclosure, pending, private = build(report)
    payload = open_disclosure(disclosure, private, KEYS)
    assert pending["payload_sha256"] == hashlib.sha256(payload_bytes(payload)).digest()
    assert pending["legal_basis"] == "statute, article 1"
    assert pending["agreement_version"] == 3
    assert pending["subjects"] == [payload["subjects"][0]["subject_id"]]
    assert pending["disclosure_id"] == disclosure["disclosure_id"]


@pytest.mark.parametrize(
    "field", ["event_id", "agreement_id", "recipient", "disclosed_at", "ciphertext"]
)
def test_tampered_fields_fail_the_signature(field: str) -> None:
    """Any signed field changed after signing is caught before decryption is tried."""
    disclosure, _, private = build()
    value = disclosure[field]
    if isinstance(value, bytes):
        changed: Any = bytes([value[0] ^ 1]) + value[1:]
    elif isinstance(value, str):
        changed = value + "x"
    else:
        changed = value.replace(year=value.year - 1)
    with pytest.raises(SignatureError):
        open_disclosure(dict(disclosure, **{field: changed}), private, KEYS)


def test_unknown_exchange_key_is_refused() -> None:
    """A disclosure signed by a key the agency does not hold is refused."""
    disclosure, _, private = build()
    with pytest.raises(SignatureError, match="unknown"):
        open_disclosure(disclosure, private, {})


def test_other_agency_cannot_decrypt() -> None:
    """A genuine disclosure does not open with another agency's key."""
    disclosure, _, _ = build()
    with pytest.raises(DecryptionError):
        open_disclosure(disclosure, X25519PrivateKey.generate(), KEYS)


def test_conditions_travel_with_handling_c() -> None:
    """A report graded with handling C carries its conditions in every disclosure."""
    graded = {"source": 2, "assessment": "B", "handling": "C", "conditions": "no onward sharing"}
    payload = minimise(enriched(grading=graded), make_agreement(), lambda v: v)
    assert payload["handling_conditions"] == "no onward sharing"


def test_exchange_fields_and_subject_details_only_when_disclosed() -> None:
    """Country and risk levels appear only when the agreement lists them."""
    bare = minimise(enriched(), make_agreement(), lambda v: v)
    assert "country" not in bare
    assert "risk_level" not in bare["subjects"][0]
    disclose = ["event_id", "country", "subjects", "subjects.risk_level", "subjects.rftf"]
    rich = minimise(enriched(), make_agreement(disclose=disclose, pseudonymise=[]), lambda v: v)
    assert rich["country"] == "KZ"
    assert rich["subjects"][0] == {
        "subject_id": "TJ-P-004211",
        "role": "SUBJECT",
        "risk_level": "HIGH",
        "rftf": True,
    }


def test_pseudonymised_identifiers() -> None:
    """unit_id and facility_id can be pseudonymised like subject ids."""
    agreement = make_agreement(
        disclose=["unit_id", "facility_id"], pseudonymise=["unit_id", "facility_id"]
    )
    payload = minimise(enriched(), agreement, lambda v: "ps-" + v[::-1])
    assert payload == {"unit_id": "ps-EBNAHSUD-UIP-JT", "facility_id": "ps-100-F-JT"}
