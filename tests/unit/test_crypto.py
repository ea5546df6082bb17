"""Keys, the disclosure envelope, signatures and pseudonyms."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.core.canonical import canonical
from streams.core.crypto import (
    BatchSealer,
    Pseudonymiser,
    Sealed,
    SubjectLinker,
    disclosure_aad,
    key_id,
    open_sealed,
    parse_ed25519_public,
    parse_x25519_public,
    pseudonym,
    seal,
    sign,
    verify,
)
from streams.core.keyfiles import (
    generate_agency_keys,
    generate_exchange_keys,
    load_ed25519_private,
    load_pseudonym_secret,
    load_x25519_private,
)
from streams.core.times import to_millis
from streams.errors import ConfigError, DecryptionError, KeyFileError, SignatureError

AAD = disclosure_aad("d-1", "kz-knb")
OPAQUE = r"^the payload cannot be decrypted with this key$"


@pytest.fixture
def recipient() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask of 0, under which careless code would create world-readable files."""
    old = os.umask(0)
    yield
    os.umask(old)


def flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


def test_round_trip(recipient: X25519PrivateKey) -> None:
    """What is sealed to a recipient opens with its private key and the same AAD."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    assert open_sealed(sealed, recipient, AAD) == b"payload"


def test_envelope_sizes(recipient: X25519PrivateKey) -> None:
    """The envelope carries a raw 32-byte ephemeral key, a 12-byte nonce and a 16-byte tag."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    assert (len(sealed.ephemeral_public_key), len(sealed.nonce)) == (32, 12)
    assert len(sealed.ciphertext) == len(b"payload") + 16


def test_every_seal_is_fresh(recipient: X25519PrivateKey) -> None:
    """Two seals of one payload share no ephemeral key, nonce or ciphertext."""
    one, two = (seal(b"same", recipient.public_key(), AAD) for _ in range(2))
    assert one.ephemeral_public_key != two.ephemeral_public_key
    assert one.nonce != two.nonce
    assert one.ciphertext != two.ciphertext


def test_no_seal_repeats_a_nonce_or_ephemeral_key(recipient: X25519PrivateKey) -> None:
    """Without the test-only parameters, no two of many seals share an ephemeral key or nonce."""
    sealed = [seal(b"same", recipient.public_key(), AAD) for _ in range(200)]
    assert len({s.ephemeral_public_key for s in sealed}) == len(sealed)
    assert len({s.nonce for s in sealed}) == len(sealed)
    assert len({s.ciphertext for s in sealed}) == len(sealed)
    assert all(open_sealed(s, recipient, AAD) == b"same" for s in sealed)


# Known answer, computed once apart from seal() with the primitives alone: X25519(ephemeral,
# recipient), HKDF-SHA256(length=32, salt=ephemeral public + recipient public,
# info=b"intelshare disclosure v1"), AES-256-GCM(key).encrypt(nonce, plaintext, aad).
KAT_RECIPIENT = bytes(range(1, 33))
KAT_EPHEMERAL = bytes(range(33, 65))
KAT_NONCE = bytes(range(12))
KAT_PLAINTEXT = b"known-answer plaintext: TJ-P-004211 moved to KZ-F-1"
KAT_AAD = b"known-answer associated data"
KAT_SEALED = Sealed(
    ephemeral_public_key=bytes.fromhex(
        "5869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b"
    ),
    nonce=KAT_NONCE,
    ciphertext=bytes.fromhex(
        "7009dbd21f898f9a539716511c23f271b37f3fe6d7170b9e1b8e9669b24bd2b7"
        "074ebd936191880555d5a2294156e5dab766eabb37709faee13fa1ea4e9a504b642c91"
    ),
)


def test_envelope_known_answer() -> None:
    """Fixed keys, nonce, plaintext and AAD seal to the independently computed envelope,
    which open_sealed opens."""
    recipient = X25519PrivateKey.from_private_bytes(KAT_RECIPIENT)
    sealed = seal(
        KAT_PLAINTEXT,
        recipient.public_key(),
        KAT_AAD,
        ephemeral=X25519PrivateKey.from_private_bytes(KAT_EPHEMERAL),
        nonce=KAT_NONCE,
    )
    assert sealed == KAT_SEALED
    assert open_sealed(KAT_SEALED, recipient, KAT_AAD) == KAT_PLAINTEXT


# Envelope v2, computed with hmac/hashlib (HKDF by RFC 5869's two HMACs) and the X25519 and
# AES-GCM primitives, not with streams.core.crypto: the same keys, nonce, plaintext and AAD as
# above, the disclosure id below as HKDF's info after "intelshare disclosure v2|".
KAT_V2_ID = "6f1c1d2e-0000-5000-8000-000000000001"
KAT_V2_SEALED = KAT_SEALED._replace(
    ciphertext=bytes.fromhex(
        "6963caaa7c8e31d117d929a158f89f251746ff8048b221bc73a44b7d47012ce0"
        "d81906b0751c60f8388f87695bbe11e2c5f7bb92409046da3dfa5770ae8a45370c7007"
    )
)


def test_envelope_v2_known_answer() -> None:
    """A batch sealer with a fixed key pair and nonce seals to the independently computed v2
    envelope, which opens only under its own disclosure id."""
    recipient = X25519PrivateKey.from_private_bytes(KAT_RECIPIENT)
    sealer = BatchSealer(generate=lambda: X25519PrivateKey.from_private_bytes(KAT_EPHEMERAL))
    sealed = sealer.seal(KAT_PLAINTEXT, recipient.public_key(), KAT_V2_ID, KAT_AAD, nonce=KAT_NONCE)
    assert sealed == KAT_V2_SEALED
    assert open_sealed(sealed, recipient, KAT_AAD, disclosure_id=KAT_V2_ID) == KAT_PLAINTEXT
    for wrong in (None, KAT_V2_ID[:-1] + "2"):
        with pytest.raises(DecryptionError):
            open_sealed(sealed, recipient, KAT_AAD, disclosure_id=wrong)


def test_a_batch_shares_one_agreement_but_no_key_or_nonce(recipient: X25519PrivateKey) -> None:
    """Within a batch the ephemeral key is shared; each disclosure's key is its own: a
    ciphertext moved to another disclosure id of the same batch does not open."""
    sealer = BatchSealer()
    sealed = [sealer.seal(b"same", recipient.public_key(), f"id-{i}", AAD) for i in range(50)]
    assert len({s.ephemeral_public_key for s in sealed}) == 1
    assert len({s.nonce for s in sealed}) == 50
    assert len({s.ciphertext for s in sealed}) == 50
    assert all(
        open_sealed(s, recipient, AAD, disclosure_id=f"id-{i}") == b"same"
        for i, s in enumerate(sealed)
    )
    with pytest.raises(DecryptionError):
        open_sealed(sealed[0], recipient, AAD, disclosure_id="id-1")


def test_a_batch_ends_after_its_uses_or_its_time(recipient: X25519PrivateKey) -> None:
    """A fresh X25519 pair after ``max_uses`` disclosures or ``max_age`` seconds, and one per
    recipient: no agreement serves two recipients."""
    now = [0.0]
    sealer = BatchSealer(max_uses=3, max_age=1.0, clock=lambda: now[0])
    public = recipient.public_key()
    keys = [sealer.seal(b"p", public, f"u-{i}", AAD).ephemeral_public_key for i in range(7)]
    assert keys[0] == keys[1] == keys[2] != keys[3] == keys[4] == keys[5] != keys[6]
    now[0] = 0.5
    assert sealer.seal(b"p", public, "t-1", AAD).ephemeral_public_key == keys[6]
    now[0] = 1.6
    assert sealer.seal(b"p", public, "t-2", AAD).ephemeral_public_key != keys[6]
    other = X25519PrivateKey.generate().public_key()
    assert sealer.seal(b"p", other, "o-1", AAD).ephemeral_public_key not in keys


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "ephemeral_public_key"])
def test_tampering_is_one_opaque_error(recipient: X25519PrivateKey, part: str) -> None:
    """A flipped bit in the ciphertext, nonce or ephemeral key gives the same DecryptionError."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    tampered = sealed._replace(**{part: flip(getattr(sealed, part))})
    with pytest.raises(DecryptionError, match=OPAQUE):
        open_sealed(tampered, recipient, AAD)


def test_tampered_tag_fails(recipient: X25519PrivateKey) -> None:
    """A flipped bit in the authentication tag (the last 16 bytes) gives DecryptionError."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    tag_flipped = sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 0x80])
    with pytest.raises(DecryptionError, match=OPAQUE):
        open_sealed(sealed._replace(ciphertext=tag_flipped), recipient, AAD)


@pytest.mark.parametrize(
    "aad", [disclosure_aad("d-2", "kz-knb"), disclosure_aad("d-1", "kg-gknb"), b""]
)
def test_other_associated_data_fails(recipient: X25519PrivateKey, aad: bytes) -> None:
    """The ciphertext is bound to its disclosure id and recipient: other AAD cannot open it."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    with pytest.raises(DecryptionError, match=OPAQUE):
        open_sealed(sealed, recipient, aad)


def test_wrong_key_fails(recipient: X25519PrivateKey) -> None:
    """Another agency's private key cannot open the envelope."""
    sealed = seal(b"payload", recipient.public_key(), AAD)
    with pytest.raises(DecryptionError, match=OPAQUE):
        open_sealed(sealed, X25519PrivateKey.generate(), AAD)


@pytest.mark.parametrize(
    "sealed",
    [
        Sealed(bytes(32), bytes(12), bytes(32)),  # all-zero: a low-order point
        Sealed((1).to_bytes(32, "little"), bytes(12), bytes(32)),  # the point of order 4
        Sealed(bytes(31), bytes(12), bytes(32)),
        Sealed(os.urandom(32), bytes(11), bytes(32)),
        Sealed(os.urandom(32), bytes(12), b""),
    ],
    ids=["zero-point", "low-order", "short-key", "short-nonce", "empty"],
)
def test_malformed_envelopes_are_the_same_error(
    recipient: X25519PrivateKey, sealed: Sealed
) -> None:
    """Low-order points and malformed envelopes give the same opaque DecryptionError."""
    with pytest.raises(DecryptionError, match=OPAQUE):
        open_sealed(sealed, recipient, AAD)


def test_agency_key_files(tmp_path: Path, open_umask: None) -> None:
    """ID.key is 0600 PEM even under umask 0; ID.pub is base64 of the 32 raw bytes and a newline."""
    private, public = generate_agency_keys(tmp_path, "kz-knb")
    assert (private.name, public.name) == ("kz-knb.key", "kz-knb.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    key = load_x25519_private(private)
    raw = key.public_key().public_bytes_raw()
    assert public.read_text() == base64.b64encode(raw).decode() + "\n"
    assert parse_x25519_public(public.read_text()).public_bytes_raw() == raw


def test_exchange_key_files(tmp_path: Path, open_umask: None) -> None:
    """exchange.key and exchange.pseudonym.key are 0600; the secret is 32 bytes; all load."""
    private, public = generate_exchange_keys(tmp_path)
    secret_path = tmp_path / "exchange.pseudonym.key"
    assert (private.name, public.name) == ("exchange.key", "exchange.pub")
    for path in (private, secret_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_ed25519_private(private)
    raw = key.public_key().public_bytes_raw()
    assert parse_ed25519_public(public.read_text()).public_bytes_raw() == raw
    assert len(load_pseudonym_secret(secret_path)) == 32


def test_keys_are_never_overwritten(tmp_path: Path) -> None:
    """A second generation into the same folder is refused and leaves the first intact."""
    private, _ = generate_agency_keys(tmp_path, "kz-knb")
    before = private.read_bytes()
    with pytest.raises(KeyFileError, match=r"exists.*--out"):
        generate_agency_keys(tmp_path, "kz-knb")
    assert private.read_bytes() == before


def test_exchange_keys_are_never_overwritten(tmp_path: Path) -> None:
    """An existing pseudonym secret alone stops exchange key generation; nothing is written."""
    (tmp_path / "exchange.pseudonym.key").write_bytes(b"old")
    with pytest.raises(KeyFileError, match="exists"):
        generate_exchange_keys(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exchange.pseudonym.key"]
    assert (tmp_path / "exchange.pseudonym.key").read_bytes() == b"old"


def test_existing_public_key_stops_generation(tmp_path: Path) -> None:
    """If only ID.pub exists, no private key is written beside it."""
    (tmp_path / "kz-knb.pub").write_text("old\n")
    with pytest.raises(KeyFileError):
        generate_agency_keys(tmp_path, "kz-knb")
    assert not (tmp_path / "kz-knb.key").exists()


@pytest.mark.parametrize("agency", ["../kz-knb", "KZ-KNB", "", "a/b"])
def test_agency_id_must_be_an_agency_id(tmp_path: Path, agency: str) -> None:
    """An id that is not an agency id (it would name a file elsewhere) is refused."""
    with pytest.raises(ConfigError):
        generate_agency_keys(tmp_path, agency)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_key_file_error(tmp_path: Path) -> None:
    """Generating into a folder that does not exist is a KeyFileError naming the path."""
    with pytest.raises(KeyFileError, match="absent"):
        generate_agency_keys(tmp_path / "absent", "kz-knb")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_exposed_private_key_is_refused(tmp_path: Path, mode: int) -> None:
    """A private key open to group or others is refused with the chmod to run."""
    private, _ = generate_agency_keys(tmp_path, "kz-knb")
    private.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_x25519_private(private)


def test_exposed_pseudonym_secret_is_refused(tmp_path: Path) -> None:
    """The pseudonymisation secret is held to the same rule as private keys."""
    generate_exchange_keys(tmp_path)
    secret = tmp_path / "exchange.pseudonym.key"
    secret.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_pseudonym_secret(secret)


def test_wrong_kind_of_key_is_refused(tmp_path: Path) -> None:
    """The exchange's Ed25519 key is not accepted as an agency key, nor the reverse."""
    exchange_key, _ = generate_exchange_keys(tmp_path)
    agency_key, _ = generate_agency_keys(tmp_path, "kz-knb")
    with pytest.raises(KeyFileError, match="X25519"):
        load_x25519_private(exchange_key)
    with pytest.raises(KeyFileError, match="Ed25519"):
        load_ed25519_private(agency_key)


def test_not_a_key_is_refused(tmp_path: Path) -> None:
    """A 0600 file that is not a PEM private key is a KeyFileError, not a crash."""
    path = tmp_path / "garbage.key"
    path.write_bytes(b"not a key")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="PEM"):
        load_x25519_private(path)
    with pytest.raises(KeyFileError, match="base64"):
        load_pseudonym_secret(path)


@pytest.mark.parametrize("text", ["", "not base64!", "AAAA", "A" * 100])
def test_malformed_public_keys_are_refused(text: str) -> None:
    """A public key that is not base64 of exactly 32 bytes is refused, of either kind."""
    with pytest.raises(KeyFileError):
        parse_x25519_public(text)
    with pytest.raises(KeyFileError):
        parse_ed25519_public(text)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    """A missing key file is a KeyFileError naming the path and how to make one."""
    with pytest.raises(KeyFileError, match=r"absent\.key.*keys generate"):
        load_x25519_private(tmp_path / "absent.key")


def test_key_id() -> None:
    """A key id is the first 16 hex characters of the SHA-256 of the raw public key."""
    raw = bytes(range(32))
    assert key_id(raw) == hashlib.sha256(raw).hexdigest()[:16]
    assert len(key_id(raw)) == 16


def test_signatures() -> None:
    """A signature verifies with its key and fails for another message, key or mangled bytes."""
    key = Ed25519PrivateKey.generate()
    signature = sign(key, b"message")
    verify(key.public_key(), signature, b"message")
    with pytest.raises(SignatureError):
        verify(key.public_key(), signature, b"massage")
    with pytest.raises(SignatureError):
        verify(Ed25519PrivateKey.generate().public_key(), signature, b"message")
    with pytest.raises(SignatureError):
        verify(key.public_key(), flip(signature), b"message")
    with pytest.raises(SignatureError):
        verify(key.public_key(), signature[:10], b"message")


def test_pseudonyms_stable_per_agency_unlinkable_across() -> None:
    """One subject has one pseudonym per agency and different ones for different agencies."""
    secret = bytes(range(32))
    one = pseudonym(secret, "kz-knb", "TJ-P-004211")
    assert one == pseudonym(secret, "kz-knb", "TJ-P-004211")
    assert one != pseudonym(secret, "kg-gknb", "TJ-P-004211")
    assert one != pseudonym(secret, "kz-knb", "TJ-P-004212")
    assert one != pseudonym(bytes(32), "kz-knb", "TJ-P-004211")
    assert "004211" not in one


def test_pseudonym_form() -> None:
    """A pseudonym is "ps-" and 20 lower-case base32 characters."""
    alias = pseudonym(bytes(32), "kz-knb", "TJ-P-004211")
    assert alias.startswith("ps-")
    assert len(alias) == 23
    assert set(alias[3:]) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_pseudonymiser_is_the_function_keyed_once() -> None:
    """A Pseudonymiser for a recipient gives the same pseudonyms and never shows its key."""
    secret = bytes(range(32))
    alias = Pseudonymiser(secret, "kz-knb")
    assert alias("TJ-P-1") == pseudonym(secret, "kz-knb", "TJ-P-1")
    assert secret.hex() not in repr(alias)
    with pytest.raises(KeyFileError):
        Pseudonymiser(b"short", "kz-knb")


def test_canonical_encoding_is_unambiguous() -> None:
    """Different splits, nestings or types of the same characters never encode alike."""
    assert canonical("ab", "c") != canonical("a", "bc")
    assert canonical(["a"], "b") != canonical("a", ["b"])
    assert canonical(1) != canonical("1")
    assert canonical(True) != canonical(1)
    assert canonical(None) != canonical("")
    assert canonical(b"a") != canonical("a")


def test_canonical_times_are_instants_in_milliseconds() -> None:
    """One instant encodes alike in any zone and below the millisecond; naive times refused."""
    moment = datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC)
    elsewhere = moment.astimezone(timezone(timedelta(hours=5)))
    assert (
        canonical(moment) == canonical(elsewhere) == canonical(moment.replace(microsecond=123999))
    )
    assert canonical(moment) != canonical(moment + timedelta(milliseconds=1))
    with pytest.raises(TypeError):
        canonical(moment.replace(tzinfo=None))
    with pytest.raises(TypeError):
        canonical({"a": 1})


def test_to_millis() -> None:
    """to_millis gives the time in UTC cut to the millisecond, as Avro reads it back."""
    moment = datetime(2026, 11, 26, 17, 0, 0, 123999, tzinfo=timezone(timedelta(hours=5)))
    assert to_millis(moment) == datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC)
    assert to_millis(moment).tzinfo is UTC
    with pytest.raises(TypeError):
        to_millis(moment.replace(tzinfo=None))


def test_pseudonyms_and_links_do_not_change_between_versions() -> None:
    """Known answers (HKDF-SHA256, HMAC-SHA256, base32) computed when the format was defined:
    an agency's records and oversight's links keep matching across releases."""
    secret = bytes(range(32))
    assert pseudonym(secret, "kz-police", "KZ-P-000101") == "ps-tbgsp7yleiqrho6rxjll"
    linker = SubjectLinker.from_secret(secret)
    assert linker("KZ-P-000101") == "sl-tgda34hi6dqtge47rvfdvdsisf"
