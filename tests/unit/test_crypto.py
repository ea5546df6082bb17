"""Keys, the disclosure envelope, signatures and pseudonyms."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.crypto import (
    Sealed,
    canonical,
    disclosure_aad,
    generate_agency_keys,
    generate_exchange_keys,
    load_ed25519_private,
    load_pseudonym_secret,
    load_x25519_private,
    open_sealed,
    parse_x25519_public,
    pseudonym,
    seal,
    sign,
    verify,
)
from streams.errors import DecryptionError, KeyFileError, SignatureError

AAD = disclosure_aad("d-1", "kz-knb")


@pytest.fixture
def recipient() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def test_round_trip(recipient: X25519PrivateKey) -> None:
    """What is sealed to a recipient opens with its private key and the same AAD."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    assert open_sealed(sealed, recipient, AAD) == b"payload"


def test_every_seal_is_fresh(recipient: X25519PrivateKey) -> None:
    """Two seals of one payload share no ephemeral key, nonce or ciphertext."""
    one, two = (seal(b"same", recipient.public_key(), AAD) for _ in range(2))
    assert one.ephemeral_public_key != two.ephemeral_public_key
    assert one.nonce != two.nonce
    assert one.ciphertext != two.ciphertext


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "ephemeral_public_key"])
def test_tampering_is_one_opaque_error(recipient: X25519PrivateKey, part: str) -> None:
    """A flipped bit anywhere gives DecryptionError, saying nothing about where."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    value = bytearray(getattr(sealed, part))
    value[0] ^= 1
    with pytest.raises(DecryptionError, match=r"^the payload cannot be decrypted with this key$"):
        open_sealed(sealed._replace(**{part: bytes(value)}), recipient, AAD)


def test_wrong_key_or_wrong_aad_fails(recipient: X25519PrivateKey) -> None:
    """Another agency's key, or the disclosure bound to another recipient, cannot open it."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    with pytest.raises(DecryptionError):
        open_sealed(sealed, X25519PrivateKey.generate(), AAD)
    with pytest.raises(DecryptionError):
        open_sealed(sealed, recipient, disclosure_aad("d-1", "kg-gknb"))


def test_low_order_point_is_refused(recipient: X25519PrivateKey) -> None:
    """An all-zero ephemeral key (a low-order point) is refused like any other failure."""
    with pytest.raises(DecryptionError):
        open_sealed(Sealed(bytes(32), bytes(12), bytes(32)), recipient, AAD)


def test_agency_key_files(tmp_path: Path) -> None:
    """The private key is written 0600, the public one is base64 of 32 bytes, both load."""
    private, public = generate_agency_keys(tmp_path, "kz-knb")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = load_x25519_private(private)
    assert (
        parse_x25519_public(public.read_text()).public_bytes_raw()
        == key.public_key().public_bytes_raw()
    )


def test_keys_are_never_overwritten(tmp_path: Path) -> None:
    """A second generation into the same folder is refused and leaves the first intact."""
    private, _ = generate_agency_keys(tmp_path, "kz-knb")
    before = private.read_bytes()
    with pytest.raises(KeyFileError, match="exists"):
        generate_agency_keys(tmp_path, "kz-knb")
    assert private.read_bytes() == before


def test_exposed_private_key_is_refused(tmp_path: Path) -> None:
    """A private key readable by others is refused with the chmod to run."""
    private, _ = generate_agency_keys(tmp_path, "kz-knb")
    private.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_x25519_private(private)


def test_wrong_kind_of_key_is_refused(tmp_path: Path) -> None:
    """The exchange's Ed25519 key is not accepted as an agency key, nor the reverse."""
    exchange_key, _ = generate_exchange_keys(tmp_path)
    agency_key, _ = generate_agency_keys(tmp_path, "kz-knb")
    with pytest.raises(KeyFileError):
        load_x25519_private(exchange_key)
    with pytest.raises(KeyFileError):
        load_ed25519_private(agency_key)
    assert len(load_pseudonym_secret(tmp_path / "exchange.pseudonym.key")) == 32


@pytest.mark.parametrize("text", ["", "not base64!", "AAAA", "A" * 100])
def test_malformed_public_keys_are_refused(text: str) -> None:
    """A public key that is not base64 of exactly 32 bytes is refused."""
    with pytest.raises(KeyFileError):
        parse_x25519_public(text)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    """A missing key file is a KeyFileError naming the path."""
    with pytest.raises(KeyFileError, match=r"absent\.key"):
        load_x25519_private(tmp_path / "absent.key")


def test_signatures() -> None:
    """A signature verifies with its key and fails for another message or key."""
    key = Ed25519PrivateKey.generate()
    signature = sign(key, b"message")
    verify(key.public_key(), signature, b"message")
    with pytest.raises(SignatureError):
        verify(key.public_key(), signature, b"massage")
    with pytest.raises(SignatureError):
        verify(Ed25519PrivateKey.generate().public_key(), signature, b"message")


def test_pseudonyms_stable_per_agency_unlinkable_across() -> None:
    """One subject has one pseudonym per agency and different ones for different agencies."""
    secret = bytes(range(32))
    one = pseudonym(secret, "kz-knb", "TJ-P-004211")
    assert one == pseudonym(secret, "kz-knb", "TJ-P-004211")
    assert one != pseudonym(secret, "kg-gknb", "TJ-P-004211")
    assert one != pseudonym(secret, "kz-knb", "TJ-P-004212")
    assert "004211" not in one


def test_canonical_encoding_is_unambiguous() -> None:
    """Different splits of the same characters never encode alike."""
    assert canonical("ab", "c") != canonical("a", "bc")
    assert canonical(["a"], "b") != canonical("a", ["b"])
    assert canonical(1) != canonical("1")
    assert canonical(None) != canonical("")
