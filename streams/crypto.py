"""Keys and the disclosure envelope: X25519 + HKDF-SHA256 + AES-256-GCM, Ed25519 signatures,
and keyed pseudonyms.

A small recipe over pyca/cryptography primitives, in the manner of its ``fernet.py``: every
decryption failure raises the same opaque :class:`DecryptionError`, so nothing leaks why.
Private keys are written mode 0600 from the first byte and never overwritten.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streams.errors import DecryptionError, KeyFileError, SignatureError

__all__ = [
    "Sealed",
    "canonical",
    "disclosure_aad",
    "generate_agency_keys",
    "generate_exchange_keys",
    "key_id",
    "load_ed25519_private",
    "load_pseudonym_secret",
    "load_x25519_private",
    "open_sealed",
    "parse_ed25519_public",
    "parse_x25519_public",
    "pseudonym",
    "seal",
    "sign",
    "verify",
]

_ENVELOPE_INFO = b"intelshare disclosure v1"
_PSEUDONYM_INFO = b"intelshare pseudonym v1|"


def key_id(raw_public: bytes) -> str:
    """First 16 hex characters of the SHA-256 of a raw public key."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def _write_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} exists; keys are never overwritten: remove it or use another --out"
        ) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _write_public(path: Path, raw: bytes) -> None:
    if path.exists():
        raise KeyFileError(f"{path} exists; remove it or use another --out")
    path.write_text(base64.b64encode(raw).decode() + "\n")


def _pem(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_agency_keys(directory: Path, agency_id: str) -> tuple[Path, Path]:
    """Write ``ID.key`` (X25519, PEM, 0600) and ``ID.pub`` (base64 of the raw 32 bytes)."""
    private = X25519PrivateKey.generate()
    key_path, pub_path = directory / f"{agency_id}.key", directory / f"{agency_id}.pub"
    if pub_path.exists():
        raise KeyFileError(f"{pub_path} exists; remove it or use another --out")
    _write_private(key_path, _pem(private))
    _write_public(pub_path, private.public_key().public_bytes_raw())
    return key_path, pub_path


def generate_exchange_keys(directory: Path) -> tuple[Path, Path]:
    """Write the exchange's Ed25519 ``exchange.key``/``exchange.pub`` and pseudonym secret."""
    private = Ed25519PrivateKey.generate()
    key_path, pub_path = directory / "exchange.key", directory / "exchange.pub"
    secret_path = directory / "exchange.pseudonym.key"
    for path in (pub_path, secret_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; remove it or use another --out")
    _write_private(key_path, _pem(private))
    _write_private(secret_path, base64.b64encode(os.urandom(32)) + b"\n")
    _write_public(pub_path, private.public_key().public_bytes_raw())
    return key_path, pub_path


def _read_private(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by others; run `chmod 600 {path}`")
    return data


def load_x25519_private(path: Path) -> X25519PrivateKey:
    """An agency's private key; KeyFileError when absent, exposed or of another kind."""
    key = _load_pem(path)
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path} is not an X25519 key; use the agency's .key file")
    return key


def load_ed25519_private(path: Path) -> Ed25519PrivateKey:
    """The exchange's signing key; KeyFileError when absent, exposed or of another kind."""
    key = _load_pem(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"{path} is not an Ed25519 key; run `intelshare keys generate --exchange`"
        )
    return key


def _load_pem(path: Path) -> object:
    data = _read_private(path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a PEM private key") from exc


def load_pseudonym_secret(path: Path) -> bytes:
    """The exchange's 32-byte pseudonymisation secret."""
    try:
        secret = base64.b64decode(_read_private(path).strip(), validate=True)
    except binascii.Error as exc:
        raise KeyFileError(f"{path} is not base64") from exc
    if len(secret) != 32:
        raise KeyFileError(f"{path} must hold 32 bytes")
    return secret


def _raw_public(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError("a public key must be base64 of the raw 32-byte key") from exc
    if len(raw) != 32:
        raise KeyFileError(f"a public key must be 32 bytes, not {len(raw)}")
    return raw


def parse_x25519_public(text: str) -> X25519PublicKey:
    """An agency's public key from base64 of its raw 32 bytes."""
    return X25519PublicKey.from_public_bytes(_raw_public(text))


def parse_ed25519_public(text: str) -> Ed25519PublicKey:
    """The exchange's public key from base64 of its raw 32 bytes."""
    return Ed25519PublicKey.from_public_bytes(_raw_public(text))


class Sealed(NamedTuple):
    """An encrypted payload."""

    ephemeral_public_key: bytes
    """Raw 32-byte X25519 key of the sender's one-time pair."""
    nonce: bytes
    """12-byte AES-GCM nonce."""
    ciphertext: bytes
    """AES-256-GCM ciphertext with its 16-byte tag."""


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    kdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_ENVELOPE_INFO
    )
    return kdf.derive(shared)


def seal(plaintext: bytes, recipient: X25519PublicKey, associated_data: bytes) -> Sealed:
    """Encrypt to ``recipient`` with a fresh ephemeral key, binding ``associated_data``."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes_raw()
    key = _derive(ephemeral.exchange(recipient), ephemeral_raw, recipient.public_bytes_raw())
    nonce = os.urandom(12)
    return Sealed(ephemeral_raw, nonce, AESGCM(key).encrypt(nonce, plaintext, associated_data))


def open_sealed(sealed: Sealed, private: X25519PrivateKey, associated_data: bytes) -> bytes:
    """Decrypt; DecryptionError for a wrong key, tampering, or a malformed envelope."""
    try:
        ephemeral = X25519PublicKey.from_public_bytes(sealed.ephemeral_public_key)
        shared = private.exchange(ephemeral)  # raises ValueError on a low-order point
        recipient = private.public_key().public_bytes_raw()
        key = _derive(shared, sealed.ephemeral_public_key, recipient)
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, associated_data)
    except (InvalidTag, ValueError, TypeError):
        raise DecryptionError() from None


def canonical(*values: object) -> bytes:
    """An unambiguous byte encoding of ``values``: each is typed and length-prefixed.

    Strings, bytes, integers, datetimes (as epoch milliseconds), None and lists of these.
    """
    out = bytearray()
    for value in values:
        if value is None:
            out += b"N"
            continue
        if isinstance(value, list | tuple):
            out += b"L" + struct.pack(">I", len(value)) + canonical(*value)
            continue
        if isinstance(value, bool):
            tag, data = b"B", b"\x01" if value else b"\x00"
        elif isinstance(value, int):
            tag, data = b"I", str(value).encode()
        elif isinstance(value, datetime):
            tag, data = b"T", str(int(value.timestamp() * 1000)).encode()
        elif isinstance(value, str):
            tag, data = b"S", value.encode()
        elif isinstance(value, bytes):
            tag, data = b"Y", value
        else:
            raise TypeError(f"cannot encode {type(value).__name__} canonically")
        out += tag + struct.pack(">I", len(data)) + data
    return bytes(out)


def disclosure_aad(disclosure_id: str, recipient: str) -> bytes:
    """Associated data binding a ciphertext to its disclosure and recipient."""
    return canonical("intelshare-aad-v1", disclosure_id, recipient)


def sign(private: Ed25519PrivateKey, message: bytes) -> bytes:
    """Ed25519 signature."""
    return private.sign(message)


def verify(public: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """SignatureError unless ``signature`` is ``public``'s over ``message``."""
    try:
        public.verify(signature, message)
    except InvalidSignature:
        raise SignatureError("the signature does not verify with the exchange's key") from None


def pseudonym(secret: bytes, recipient: str, value: str) -> str:
    """A pseudonym for ``value``, stable for one recipient and unlinkable across recipients."""
    kdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=_PSEUDONYM_INFO + recipient.encode()
    )
    digest = hmac.new(kdf.derive(secret), value.encode(), hashlib.sha256).digest()
    return "ps-" + base64.b32encode(digest).decode().lower()[:20]
