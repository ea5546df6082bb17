"""Disclosures: deterministic ids, records that fit the schemas, verify-then-decrypt."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.core.codec import Codec
from streams.core.crypto import BatchSealer, Pseudonymiser, key_id
from streams.core.disclosure import (
    NOTICE_FIELDS,
    SIGNED_FIELDS,
    build_disclosure,
    disclosure_id,
    open_disclosure,
    payload_bytes,
    signed_bytes,
)
from streams.core.minimise import minimise
from streams.core.schemas import SchemaSet
from streams.errors import DecryptionError, SignatureError
from streams.settings import PROJECT_ROOT
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement

SIGNING = Ed25519PrivateKey.generate()
EXCHANGE_ID = key_id(SIGNING.public_key().public_bytes_raw())
KEYS = {EXCHANGE_ID: SIGNING.public_key()}
SECRET = bytes(range(32))
SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")


def build(
    report: dict[str, Any] | None = None,
    *,
    private: X25519PrivateKey | None = None,
    signing: Ed25519PrivateKey = SIGNING,
    sealer: BatchSealer | None = None,
    **agreement: Any,
) -> tuple[dict[str, Any], dict[str, Any], X25519PrivateKey]:
    """A disclosure of ``report`` under an agreement, its pending audit entry, and the key."""
    private = private or X25519PrivateKey.generate()
    disclosure, pending = build_disclosure(
        report or enriched(),
        make_agreement(**agreement),
        recipient_public=private.public_key(),
        recipient_key_id=key_id(private.public_key().public_bytes_raw()),
        signing_key=signing,
        exchange_key_id=EXCHANGE_ID,
        pseudonym_secret=SECRET,
        now=NOW + timedelta(microseconds=123456),
        sealer=sealer,
    )
    return disclosure, pending, private


def through_avro(record: dict[str, Any], name: str) -> dict[str, Any]:
    """``record`` encoded and decoded with its schema; it must hold every field, no others."""
    codec = Codec(SCHEMAS, name)
    assert set(record) == {f["name"] for f in codec.reader.raw["fields"]}
    return codec.decode(codec.encode(record))


def changed(value: Any) -> Any:
    """``value`` altered minimally, whatever its type."""
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, int):
        return value + 1
    return value - timedelta(milliseconds=1)


def test_disclosure_id_is_deterministic() -> None:
    """The same event under the same agreement always gets the same UUID5; others differ."""
    assert disclosure_id("e1", "A") == disclosure_id("e1", "A")
    assert disclosure_id("e1", "A") != disclosure_id("e1", "B")
    assert disclosure_id("e1", "A") != disclosure_id("e2", "A")
    assert uuid.UUID(disclosure_id("e1", "A")).version == 5


def test_replay_gives_the_same_id_and_a_fresh_envelope() -> None:
    """Building one disclosure twice gives one id but new ephemeral key, nonce and ciphertext."""
    report, private = enriched(), X25519PrivateKey.generate()
    one, _, _ = build(report, private=private)
    two, _, _ = build(report, private=private)
    assert one["disclosure_id"] == two["disclosure_id"]
    assert one["disclosure_id"] == disclosure_id(report["event_id"], "KZ-KNB-2026-01")
    assert one["nonce"] != two["nonce"]
    assert one["ciphertext"] != two["ciphertext"]


def test_records_fit_their_schemas() -> None:
    """The disclosure and its pending audit entry fit their schemas exactly and round-trip."""
    disclosure, pending, _ = build()
    assert through_avro(disclosure, "intelshare.Disclosure") == disclosure
    assert through_avro(pending, "intelshare.AuditRecord") == pending


def test_pending_entry_awaits_the_sequencer() -> None:
    """The pending entry has sequence -1 and empty chain fields."""
    _, pending, _ = build()
    assert pending["sequence"] == -1
    assert (pending["prev_hash"], pending["hash"], pending["signature"]) == (b"", b"", b"")
    assert pending["key_id"] == ""


def test_times_are_cut_to_the_millisecond() -> None:
    """disclosed_at is kept as Avro keeps it, so the signature survives the wire."""
    disclosure, pending, _ = build()
    assert disclosure["disclosed_at"] == NOW + timedelta(milliseconds=123)
    assert pending["disclosed_at"] == disclosure["disclosed_at"]


def test_recipient_opens_minimised_payload_after_the_wire() -> None:
    """After an Avro round trip the recipient verifies and decrypts the minimised payload."""
    report = enriched()
    disclosure, _, private = build(report)
    payload = open_disclosure(through_avro(disclosure, "intelshare.Disclosure"), private, KEYS)
    expected = minimise(report, make_agreement(), Pseudonymiser(SECRET, "kz-knb"))
    assert payload == expected
    assert "unit_id" not in payload
    assert "grading" not in payload


def test_audit_entry_names_what_was_disclosed() -> None:
    """The pending audit entry carries agreement, legal basis, fields and the payload digest."""
    disclosure, pending, private = build()
    payload = open_disclosure(disclosure, private, KEYS)
    assert pending["payload_sha256"] == hashlib.sha256(payload_bytes(payload)).digest()
    assert (pending["agreement_id"], pending["agreement_version"]) == ("KZ-KNB-2026-01", 3)
    assert (pending["purpose"], pending["legal_basis"]) == (
        "prevention of terrorist offences",
        "statute, article 1",
    )
    assert pending["fields_disclosed"] == list(make_agreement().disclose)
    assert pending["subjects"] == [payload["subjects"][0]["subject_id"]]
    assert pending["disclosure_id"] == disclosure["disclosure_id"]
    assert pending["recipient"] == disclosure["recipient"] == "kz-knb"


def test_payload_bytes_are_canonical_json() -> None:
    """The plaintext is compact, key-sorted UTF-8 JSON: the same payload, the same bytes."""
    data = payload_bytes({"b": "é", "a": [1, None]})
    assert data == '{"a":[1,null],"b":"é"}'.encode()
    assert json.loads(data) == {"a": [1, None], "b": "é"}


@pytest.mark.parametrize("field", SIGNED_FIELDS)
def test_every_signed_field_is_covered(field: str) -> None:
    """Any field changed after signing is caught by the signature, before decryption."""
    disclosure, _, private = build()
    with pytest.raises(SignatureError):
        open_disclosure(dict(disclosure, **{field: changed(disclosure[field])}), private, KEYS)


def test_signature_covers_every_field_but_itself() -> None:
    """The signed fields are exactly the disclosure's fields less the signature (the notice
    fields of v3 when they are set: tests/unit/test_notices.py)."""
    disclosure, _, _ = build()
    assert set(SIGNED_FIELDS) | set(NOTICE_FIELDS) == set(disclosure) - {"signature"}
    assert signed_bytes(disclosure) != signed_bytes(dict(disclosure, nonce=b""))


def test_tampered_signature_is_refused() -> None:
    """A changed signature is refused."""
    disclosure, _, private = build()
    with pytest.raises(SignatureError):
        open_disclosure(dict(disclosure, signature=changed(disclosure["signature"])), private, KEYS)


def test_wrong_exchange_key_is_refused() -> None:
    """A disclosure signed by another key under the exchange's key id is refused."""
    disclosure, _, private = build(signing=Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError):
        open_disclosure(disclosure, private, KEYS)


def test_unknown_exchange_key_is_refused() -> None:
    """A disclosure signed by a key the agency does not hold is refused."""
    disclosure, _, private = build()
    with pytest.raises(SignatureError, match="unknown"):
        open_disclosure(disclosure, private, {})


def test_malformed_disclosure_is_a_signature_error() -> None:
    """A disclosure missing a field, or with one of the wrong type, is refused, not a crash."""
    disclosure, _, private = build()
    del disclosure["nonce"]
    with pytest.raises(SignatureError, match="malformed"):
        open_disclosure(disclosure, private, KEYS)
    disclosure, _, private = build()
    with pytest.raises(SignatureError, match="malformed"):
        open_disclosure(dict(disclosure, nonce=1.5), private, KEYS)


def test_other_agency_cannot_decrypt() -> None:
    """A genuine disclosure does not open with another agency's key."""
    disclosure, _, _ = build()
    with pytest.raises(DecryptionError):
        open_disclosure(disclosure, X25519PrivateKey.generate(), KEYS)


def test_envelope_v2_disclosures_verify_and_open_each_with_its_own_key() -> None:
    """Disclosures sealed in one batch (envelope 2) share an ephemeral key, survive Avro, verify
    and open; the envelope is signed, so it cannot be changed to 1 (or 3) unnoticed."""
    private = X25519PrivateKey.generate()
    sealer = BatchSealer()
    built = [build(private=private, sealer=sealer, id=f"A-{i}") for i in range(3)]
    assert len({d["ephemeral_public_key"] for d, _, _ in built}) == 1
    for disclosure, pending, _ in built:
        assert disclosure["envelope"] == 2
        decoded = through_avro(disclosure, "intelshare.Disclosure")
        assert open_disclosure(decoded, private, KEYS)["event_id"] == disclosure["event_id"]
        assert pending["disclosure_sha256"] == hashlib.sha256(signed_bytes(decoded)).digest()
        for other in (1, 3):
            with pytest.raises(SignatureError):
                open_disclosure(dict(decoded, envelope=other), private, KEYS)
    # the ciphertext of one disclosure under another's signed fields does not open
    first, second = built[0][0], built[1][0]
    moved = dict(second, ciphertext=first["ciphertext"], nonce=first["nonce"])
    moved["signature"] = SIGNING.sign(signed_bytes(moved))
    with pytest.raises(DecryptionError):
        open_disclosure(moved, private, KEYS)


def test_an_unknown_envelope_does_not_open_even_when_signed() -> None:
    """An envelope number this exchange does not know is one opaque DecryptionError."""
    disclosure, _, private = build(sealer=BatchSealer())
    odd = dict(disclosure, envelope=3)
    odd["signature"] = SIGNING.sign(signed_bytes(odd))
    with pytest.raises(DecryptionError):
        open_disclosure(odd, private, KEYS)


def test_a_disclosure_written_before_envelope_2_still_verifies_and_opens() -> None:
    """A v1 Disclosure record (no envelope field) reads as envelope 1: its signature, digest
    and payload are what they were."""
    disclosure, pending, private = build()
    v1 = Codec(SCHEMAS, "intelshare.Disclosure", version=1)
    old = {k: v for k, v in disclosure.items() if k != "envelope"}
    read = Codec(SCHEMAS, "intelshare.Disclosure").decode(v1.encode(old))
    assert read["envelope"] == 1
    assert pending["disclosure_sha256"] == hashlib.sha256(signed_bytes(read)).digest()
    assert open_disclosure(read, private, KEYS)["event_id"] == disclosure["event_id"]
