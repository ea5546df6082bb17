"""Known answers for every primitive and format the exchange signs, hashes or encrypts.

Each expected value is computed here apart from the code under test, from the format as the
docstrings and DESIGN.md define it: hashlib, hmac and the cryptography primitives directly,
RFC test vectors, and a reference encoder of the canonical form written from its
definition. A change to any format, however small, fails here before it reaches a partner who
verifies with a tool of their own."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streams.audit.chain import HASHED_FIELDS, record_hash, seal_record
from streams.audit.merkle import Frontier, leaf_hash, node_hash, tree_hash
from streams.core.canonical import canonical
from streams.core.crypto import (
    BatchSealer,
    Pseudonymiser,
    Sealed,
    SubjectLinker,
    disclosure_aad,
    key_id,
    link_key,
    open_sealed,
    pseudonym,
    seal,
    sign,
    verify,
)
from streams.errors import DecryptionError, KeyFileError, SignatureError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MOMENT = datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC)


def ref(*values: object) -> bytes:
    """The canonical encoding, from its definition: a one-byte type tag, a 4-byte big-endian
    length, the data; S UTF-8 text, Y bytes, I decimal integer, B one byte 0 or 1, T decimal
    epoch milliseconds (floor), N alone for None, L the item count then the items."""
    out = b""
    for value in values:
        if value is None:
            out += b"N"
        elif isinstance(value, list | tuple):
            out += b"L" + len(value).to_bytes(4, "big") + ref(*value)
        else:
            tag, data = _tag_and_data(value)
            out += tag + len(data).to_bytes(4, "big") + data
    return out


def _tag_and_data(value: object) -> tuple[bytes, bytes]:
    if isinstance(value, str):
        return b"S", value.encode("utf-8")
    if isinstance(value, bytes):
        return b"Y", value
    if isinstance(value, bool):
        return b"B", bytes([value])
    if isinstance(value, int):
        return b"I", b"%d" % value
    if isinstance(value, datetime):
        delta = value - EPOCH
        millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
        return b"T", b"%d" % millis
    raise AssertionError(type(value))


def hkdf_sha256(secret: bytes, info: bytes, salt: bytes = b"", length: int = 32) -> bytes:
    """RFC 5869 with HMAC-SHA256, by its two steps (no salt means 32 zero bytes)."""
    prk = hmac.new(salt or bytes(32), secret, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


# --- the canonical encoding ------------------------------------------------------------------


def test_canonical_fixed_bytes() -> None:
    """Literal bytes of the encoding, one per type, so the reference encoder is pinned too."""
    assert canonical("ab") == b"S\x00\x00\x00\x02ab"
    assert canonical(b"\x00\xff") == b"Y\x00\x00\x00\x02\x00\xff"
    assert canonical(None) == b"N"
    assert canonical(True) == b"B\x00\x00\x00\x01\x01"
    assert canonical(False) == b"B\x00\x00\x00\x01\x00"
    assert canonical(-12) == b"I\x00\x00\x00\x03-12"
    assert canonical(EPOCH + timedelta(milliseconds=1)) == b"T\x00\x00\x00\x011"
    assert canonical(["a"]) == b"L\x00\x00\x00\x01S\x00\x00\x00\x01a"
    assert canonical() == b""
    assert canonical("é" * 200) == b"S\x00\x00\x01\x90" + "é".encode() * 200


@pytest.mark.parametrize(
    "values",
    [
        ("a", "b", "c"),
        (b"a", b"b"),
        (None, "after none"),
        (None, None, 0),
        (True, False, True),
        (False, "after false"),
        (0, 1, -1, 2**63),
        (["x", None, True], "after a list", ("t", b"y")),
        ([], [[]], [None]),
        (MOMENT, "after a time", EPOCH),
        ("", b"", 0, False, None, []),
        ("unicode ў й ي 中", b"\x00" * 3),
    ],
)
def test_canonical_sequences_encode_every_value_in_order(values: tuple[Any, ...]) -> None:
    """Every value after a None, a boolean, a list or a time is still encoded, and appended,
    not written over what came before."""
    assert canonical(*values) == ref(*values)


def test_canonical_booleans_and_none_are_distinct() -> None:
    """True and False, None and False, None and the empty list: never encoded alike."""
    encodings = [canonical(v) for v in (True, False, None, [], 0, 1, "", b"")]
    assert len(set(encodings)) == len(encodings)


@pytest.mark.parametrize(
    "moment",
    [
        EPOCH,
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),
        MOMENT,
        MOMENT.astimezone(timezone(timedelta(hours=-7))),
        datetime(2026, 11, 26, 12, 0, 0, 123999, tzinfo=UTC),
    ],
)
def test_canonical_times_are_epoch_milliseconds(moment: datetime) -> None:
    """A time is its whole epoch milliseconds, rounded down, before 1970 too, in any zone."""
    assert canonical(moment) == ref(moment)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "cannot encode float canonically"),
        ({"a": 1}, "cannot encode dict canonically"),
        ({1}, "cannot encode set canonically"),
        (object(), "cannot encode object canonically"),
        (datetime(2026, 1, 1), "cannot encode a datetime without a time zone canonically"),
    ],
)
def test_canonical_refuses_what_it_cannot_encode_unambiguously(value: object, message: str) -> None:
    """Floats, mappings, sets, naive times and other objects are refused, never guessed."""
    with pytest.raises(TypeError, match=rf"^{message}$"):
        canonical("before", value)


# --- what the exchange hashes and signs ------------------------------------------------------


def test_disclosure_aad_known_answer() -> None:
    """The associated data binding a ciphertext: its domain, disclosure id and recipient."""
    assert disclosure_aad("d-1", "kz-knb") == ref("intelshare-aad-v1", "d-1", "kz-knb")
    assert disclosure_aad("d-1", "kz-knb") == (
        b"S\x00\x00\x00\x11intelshare-aad-v1S\x00\x00\x00\x03d-1S\x00\x00\x00\x06kz-knb"
    )


ORDER = (
    "sequence", "disclosure_id", "event_id", "agreement_id", "agreement_version", "recipient",
    "purpose", "legal_basis", "fields_disclosed", "subjects", "payload_sha256",
    "disclosure_sha256", "disclosed_at", "recorded_at", "prev_hash", "key_id",
)  # fmt: skip
"""The fields an audit record's hash covers, in the order of schemas/audit_record.v2.avsc."""


def _audit_record(links: list[str]) -> dict[str, Any]:
    return {
        "sequence": 7, "disclosure_id": "d-7", "event_id": "e-7", "agreement_id": "A-1",
        "agreement_version": 3, "recipient": "kz-knb", "purpose": "p", "legal_basis": "l",
        "fields_disclosed": ["event_id", "narrative"], "subjects": ["ps-a", "ps-b"],
        "payload_sha256": bytes(range(32)), "disclosure_sha256": bytes(range(1, 33)),
        "disclosed_at": MOMENT, "recorded_at": MOMENT + timedelta(seconds=1),
        "prev_hash": bytes(32), "key_id": "0123456789abcdef", "subject_links": links,
        "hash": b"ignored", "signature": b"ignored",
    }  # fmt: skip


def test_record_hash_known_answer() -> None:
    """SHA-256 of the audit domain and the sixteen fields in their documented order; hash and
    signature are not covered."""
    record = _audit_record([])
    expected = hashlib.sha256(ref("intelshare-audit-v1", *(record[f] for f in ORDER))).digest()
    assert record_hash(record) == expected
    assert expected.hex() == "b8015f5a586671048786d9e9c29517035a4c48864ef4f99cac5bd205388bd467"
    assert HASHED_FIELDS == ORDER
    assert record_hash(record | {"hash": b"x", "signature": b"y"}) == expected


def test_record_hash_with_links_known_answer() -> None:
    """A record with subject links hashes under the v3 domain with the links last; without
    links (absent or empty) it hashes as a v2 record."""
    record = _audit_record(["sl-a", "sl-b"])
    values = [record[f] for f in ORDER]
    assert (
        record_hash(record)
        == hashlib.sha256(ref("intelshare-audit-v3", *values, ["sl-a", "sl-b"])).digest()
    )
    without = {k: v for k, v in record.items() if k != "subject_links"}
    v2 = hashlib.sha256(ref("intelshare-audit-v1", *values)).digest()
    assert record_hash(without) == record_hash(record | {"subject_links": []}) == v2


def test_record_hash_of_a_notice_known_answer() -> None:
    """A record whose v4 fields differ from their defaults (here a recall notice) hashes under
    the v4 domain: the sixteen fields, the links (even empty), then kind, refers_to, reason and
    useful."""
    record = _audit_record([]) | {"kind": "recall", "refers_to": "d-1", "reason": "withdrawn"}
    values = [record[f] for f in ORDER]
    expected = ref("intelshare-audit-v4", *values, [], "recall", "d-1", "withdrawn", None)
    assert record_hash(record | {"useful": None}) == hashlib.sha256(expected).digest()
    feedback = _audit_record(["sl-a"]) | {"kind": "feedback", "refers_to": "d-1", "useful": False}
    expected = ref("intelshare-audit-v4", *values, ["sl-a"], "feedback", "d-1", None, False)
    assert record_hash(feedback) == hashlib.sha256(expected).digest()


def test_seal_record_signs_its_hash() -> None:
    """A sealed record carries the known-answer hash of its fields and an Ed25519 signature
    over exactly that hash (deterministic, so its bytes are known too)."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    record = seal_record(
        _audit_record([]), sequence=7, prev_hash=bytes(32), key_id="0123456789abcdef",
        signing_key=key, now=MOMENT + timedelta(seconds=1, microseconds=999),
    )  # fmt: skip
    expected = hashlib.sha256(
        ref("intelshare-audit-v1", *(_audit_record([])[f] for f in ORDER))
    ).digest()
    assert record["recorded_at"] == MOMENT + timedelta(seconds=1)
    assert record["hash"] == expected
    assert record["signature"] == key.sign(expected)


# --- keys, signatures, pseudonyms ------------------------------------------------------------

# RFC 8032 §7.1, test 1: the empty message.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_signatures_are_rfc_8032_ed25519() -> None:
    """sign and verify are plain Ed25519: the RFC's vector signs and verifies, and the
    verifier refuses the vector with any bit changed."""
    private = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    assert sign(private, b"") == RFC8032_SIGNATURE
    public = private.public_key()
    assert public.public_bytes_raw() == RFC8032_PUBLIC
    verify(public, RFC8032_SIGNATURE, b"")
    for bad_signature, message in (
        (bytes([RFC8032_SIGNATURE[0] ^ 1]) + RFC8032_SIGNATURE[1:], b""),
        (RFC8032_SIGNATURE, b"\x00"),
        (RFC8032_SIGNATURE[:-1], b""),
    ):
        with pytest.raises(SignatureError, match=r"^the signature does not verify with the"):
            verify(public, bad_signature, message)


def test_key_id_known_answer() -> None:
    """A key id is the first 16 hex digits of the SHA-256 of the raw public key."""
    assert key_id(RFC8032_PUBLIC) == hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:16]
    assert key_id(RFC8032_PUBLIC) == "21fe31dfa154a261"


SECRET = bytes(range(32))


def _pseudonym(secret: bytes, recipient: str, value: str) -> str:
    key = hkdf_sha256(secret, b"intelshare pseudonym v1|" + recipient.encode())
    digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return "ps-" + base64.b32encode(digest[:15]).decode().lower()[:20]


@pytest.mark.parametrize(
    ("recipient", "value"),
    [("kz-police", "KZ-P-000101"), ("kz-knb", "KZ-P-000101"), ("kz-knb", "TJ-F-001")],
)
def test_pseudonym_known_answer(recipient: str, value: str) -> None:
    """A pseudonym is ps- and 20 base32 characters of HMAC-SHA256 under the recipient's key,
    HKDF-SHA256(secret, no salt, info "intelshare pseudonym v1|" + recipient, 32 bytes)."""
    expected = _pseudonym(SECRET, recipient, value)
    assert pseudonym(SECRET, recipient, value) == expected
    assert Pseudonymiser(SECRET, recipient)(value) == expected
    assert len(expected) == 23


def test_pseudonym_fixed_value() -> None:
    """The value agencies already hold, pinned as text."""
    assert _pseudonym(SECRET, "kz-police", "KZ-P-000101") == "ps-tbgsp7yleiqrho6rxjll"


def test_pseudonymiser_secret_length() -> None:
    """A secret of 32 bytes (or more) makes pseudonyms; 31 bytes is refused."""
    assert Pseudonymiser(bytes(32), "kz-knb")("x").startswith("ps-")
    assert Pseudonymiser(bytes(33), "kz-knb")("x") == _pseudonym(bytes(33), "kz-knb", "x")
    with pytest.raises(KeyFileError, match="32 bytes"):
        Pseudonymiser(bytes(31), "kz-knb")


def test_oversight_link_known_answer() -> None:
    """The link key is HKDF-SHA256(secret, info "intelshare oversight link v1"); a link is sl-
    and 26 base32 characters of HMAC-SHA256(link key, subject id)."""
    key = hkdf_sha256(SECRET, b"intelshare oversight link v1")
    assert link_key(SECRET) == key
    digest = hmac.new(key, b"KZ-P-000101", hashlib.sha256).digest()
    expected = "sl-" + base64.b32encode(digest[:20]).decode().lower()[:26]
    assert SubjectLinker(key)("KZ-P-000101") == expected
    assert (
        SubjectLinker.from_secret(SECRET)("KZ-P-000101")
        == expected
        == ("sl-tgda34hi6dqtge47rvfdvdsisf")
    )


def test_link_key_lengths() -> None:
    """The link key needs a 32-byte secret; a linker needs exactly a 32-byte key."""
    with pytest.raises(KeyFileError, match="32 bytes"):
        link_key(bytes(31))
    assert len(link_key(bytes(40))) == 32
    for wrong in (bytes(31), bytes(33)):
        with pytest.raises(KeyFileError, match="32 bytes"):
            SubjectLinker(wrong)
    assert repr(SubjectLinker(bytes(32))) == "SubjectLinker()"


# --- the envelope ----------------------------------------------------------------------------

RECIPIENT = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
EPHEMERAL = X25519PrivateKey.from_private_bytes(bytes(range(33, 65)))
NONCE = bytes(range(12))
PLAINTEXT = b"known-answer plaintext"
AAD = disclosure_aad("d-1", "kz-knb")


def _envelope(context: bytes | None) -> Sealed:
    """The envelope by hand: X25519, HKDF-SHA256 salted with both public keys, AES-256-GCM."""
    ephemeral = EPHEMERAL.public_key().public_bytes_raw()
    recipient = RECIPIENT.public_key().public_bytes_raw()
    shared = EPHEMERAL.exchange(X25519PublicKey.from_public_bytes(recipient))
    info = b"intelshare disclosure v1"
    if context is not None:
        info = b"intelshare disclosure v2|" + context
    key = hkdf_sha256(shared, info, salt=ephemeral + recipient)
    return Sealed(ephemeral, NONCE, AESGCM(key).encrypt(NONCE, PLAINTEXT, AAD))


def test_envelope_v1_known_answer() -> None:
    """seal with a given one-time key and nonce gives the envelope computed by hand, and
    open_sealed opens the hand-made one."""
    expected = _envelope(None)
    sealed = seal(PLAINTEXT, RECIPIENT.public_key(), AAD, ephemeral=EPHEMERAL, nonce=NONCE)
    assert sealed == expected
    assert open_sealed(expected, RECIPIENT, AAD) == PLAINTEXT


def test_envelope_v2_known_answer() -> None:
    """A batch sealer's envelope is the hand-made one with the disclosure id in HKDF's info;
    open_sealed opens it only under that id."""
    expected = _envelope(b"d-1")
    sealer = BatchSealer(generate=lambda: EPHEMERAL)
    assert sealer.seal(PLAINTEXT, RECIPIENT.public_key(), "d-1", AAD, nonce=NONCE) == expected
    assert open_sealed(expected, RECIPIENT, AAD, disclosure_id="d-1") == PLAINTEXT
    with pytest.raises(DecryptionError):
        open_sealed(expected, RECIPIENT, AAD)


def test_a_nonce_of_another_length_is_refused() -> None:
    """AES-GCM's nonce is 12 bytes: 11 or 13 given by a caller is refused, not padded."""
    for wrong in (bytes(11), bytes(13)):
        with pytest.raises(ValueError, match="12 bytes"):
            seal(PLAINTEXT, RECIPIENT.public_key(), AAD, nonce=wrong)


# --- the Merkle tree -------------------------------------------------------------------------


def test_rfc_9162_leaf_and_node_hashes() -> None:
    """leaf_hash(b"") is RFC 9162's (and Certificate Transparency's) empty-leaf value; a leaf
    is SHA-256(0x00 || data), a node SHA-256(0x01 || left || right), the empty tree SHA-256
    of nothing."""
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"\x00\x01") == hashlib.sha256(b"\x00\x00\x01").digest()
    left, right = bytes(range(32)), bytes(range(32, 64))
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != node_hash(right, left)
    assert tree_hash([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_a_frontier_holds_one_root_per_set_bit() -> None:
    """A frontier of 5 leaves is two roots (4 + 1); three roots for it are refused, and an
    empty frontier's root is the empty tree's."""
    roots = [hashlib.sha256(b"four").digest(), leaf_hash(b"five")]
    assert Frontier(5, roots).root() == node_hash(*roots)
    with pytest.raises(ValueError, match=r"^a frontier holds one root per set bit of its size$"):
        Frontier(5, [*roots, roots[0]])
    assert Frontier().root() == hashlib.sha256(b"").digest()
