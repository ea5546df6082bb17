"""Keys and the disclosure envelope: X25519 + HKDF-SHA256 + AES-256-GCM, Ed25519 signatures,
and keyed pseudonyms.

A small recipe over pyca/cryptography primitives, in the manner of its ``fernet.py``: every
decryption failure raises the same opaque :class:`DecryptionError`, so nothing leaks why.
Private keys are created mode 0600 before their first byte is written, and never overwritten.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streams.errors import DecryptionError, KeyFileError, SignatureError
from streams.topics import feed_topic

__all__ = [
    "Pseudonymiser",
    "Sealed",
    "canonical",
    "disclosure_aad",
    "generate_agency_keys",
    "generate_exchange_keys",
    "generate_signing_key",
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
    "to_millis",
    "verify",
]

_ENVELOPE_INFO = b"intelshare disclosure v1"
_PSEUDONYM_INFO = b"intelshare pseudonym v1|"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def key_id(raw_public: bytes) -> str:
    """First 16 hex characters of the SHA-256 of a raw public key."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


# --- key files -------------------------------------------------------------------------------


def _exists(path: Path) -> KeyFileError:
    return KeyFileError(
        f"{path} exists; keys are never overwritten: remove it or use another --out"
    )


def _create(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (O_EXCL: never overwrite, never follow)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, mode)  # the umask may only have narrowed it; make it exact
        handle.write(data)
        handle.flush()
        os.fsync(fd)


def _create_all(files: list[tuple[Path, bytes, int]]) -> None:
    """Create every file or none: refuse if any exists; on failure remove those made here."""
    for path, _, _ in files:
        if path.exists() or path.is_symlink():
            raise _exists(path)
    created: list[Path] = []
    try:
        for path, data, mode in files:
            _create(path, data, mode)
            created.append(path)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise


def _pem(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_line(raw: bytes) -> bytes:
    return base64.b64encode(raw) + b"\n"


def generate_agency_keys(directory: Path, agency_id: str) -> tuple[Path, Path]:
    """Write ``ID.key`` (X25519, PEM PKCS8, 0600) and ``ID.pub`` (base64 of the raw 32 bytes).

    ConfigError for an id that could not name a feed; KeyFileError if either file exists.
    """
    feed_topic(agency_id)  # the id becomes a file name: refuse anything but an agency id
    key_path, pub_path = directory / f"{agency_id}.key", directory / f"{agency_id}.pub"
    private = X25519PrivateKey.generate()
    public = _public_line(private.public_key().public_bytes_raw())
    _create_all([(key_path, _pem(private), 0o600), (pub_path, public, 0o644)])
    return key_path, pub_path


def generate_signing_key(directory: Path, name: str = "exchange") -> tuple[Path, Path]:
    """Write ``NAME.key`` (Ed25519, PEM PKCS8, 0600) and ``NAME.pub``; used for rotation."""
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    private = Ed25519PrivateKey.generate()
    public = _public_line(private.public_key().public_bytes_raw())
    _create_all([(key_path, _pem(private), 0o600), (pub_path, public, 0o644)])
    return key_path, pub_path


def generate_exchange_keys(directory: Path) -> tuple[Path, Path]:
    """Write ``exchange.key``/``exchange.pub`` (Ed25519) and ``exchange.pseudonym.key``.

    The pseudonymisation secret is 32 random bytes, stored base64, mode 0600.
    """
    key_path, pub_path = directory / "exchange.key", directory / "exchange.pub"
    secret_path = directory / "exchange.pseudonym.key"
    private = Ed25519PrivateKey.generate()
    secret = base64.b64encode(os.urandom(_KEY_BYTES)) + b"\n"
    public = _public_line(private.public_key().public_bytes_raw())
    _create_all(
        [(key_path, _pem(private), 0o600), (secret_path, secret, 0o600), (pub_path, public, 0o644)]
    )
    return key_path, pub_path


def _read_private(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not hang us
    except FileNotFoundError as exc:
        raise KeyFileError(f"no key {path}: generate it with `intelshare keys generate`") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode  # of the file opened, not of whatever the path names later
        if not stat.S_ISREG(mode):
            raise KeyFileError(f"{path} is not a regular file")
        if mode & 0o077:
            raise KeyFileError(
                f"{path} is open to group or others (mode {stat.S_IMODE(mode):o}); "
                f"run `chmod 600 {path}`"
            )
        return handle.read()


def _load_pem(path: Path) -> object:
    data = _read_private(path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from exc


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


def load_pseudonym_secret(path: Path) -> bytes:
    """The exchange's 32-byte pseudonymisation secret; KeyFileError as for private keys."""
    try:
        secret = base64.b64decode(_read_private(path).strip(), validate=True)
    except binascii.Error as exc:
        raise KeyFileError(f"{path} is not base64") from exc
    if len(secret) != _KEY_BYTES:
        raise KeyFileError(f"{path} must hold {_KEY_BYTES} bytes, not {len(secret)}")
    return secret


def _raw_public(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError("a public key must be base64 of the raw 32-byte key") from exc
    if len(raw) != _KEY_BYTES:
        raise KeyFileError(f"a public key must be {_KEY_BYTES} bytes, not {len(raw)}")
    return raw


def parse_x25519_public(b64: str) -> X25519PublicKey:
    """An agency's public key from base64 of its raw 32 bytes."""
    return X25519PublicKey.from_public_bytes(_raw_public(b64))


def parse_ed25519_public(b64: str) -> Ed25519PublicKey:
    """The exchange's public key from base64 of its raw 32 bytes."""
    try:
        return Ed25519PublicKey.from_public_bytes(_raw_public(b64))
    except ValueError as exc:
        raise KeyFileError("not a valid Ed25519 public key") from exc


# --- the envelope ----------------------------------------------------------------------------


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
    nonce = os.urandom(_NONCE_BYTES)
    return Sealed(ephemeral_raw, nonce, AESGCM(key).encrypt(nonce, plaintext, associated_data))


def open_sealed(sealed: Sealed, private: X25519PrivateKey, associated_data: bytes) -> bytes:
    """Decrypt; one opaque DecryptionError for a wrong key, tampering or a malformed envelope."""
    try:
        if len(sealed.ephemeral_public_key) != _KEY_BYTES or len(sealed.nonce) != _NONCE_BYTES:
            raise ValueError("malformed envelope")
        ephemeral = X25519PublicKey.from_public_bytes(sealed.ephemeral_public_key)
        shared = private.exchange(ephemeral)  # raises ValueError on a low-order point
        if not any(shared):
            raise ValueError("all-zero shared secret")
        recipient = private.public_key().public_bytes_raw()
        key = _derive(shared, sealed.ephemeral_public_key, recipient)
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, associated_data)
    except (InvalidTag, ValueError, TypeError):
        raise DecryptionError() from None


def canonical(*values: object) -> bytes:
    """An unambiguous byte encoding of ``values``: each is type-tagged and length-prefixed.

    Strings, bytes, integers, booleans, None, timezone-aware datetimes (as whole epoch
    milliseconds, the precision Avro keeps) and lists or tuples of these.
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
            if value.tzinfo is None:
                raise TypeError("cannot encode a datetime without a time zone canonically")
            tag, data = b"T", str((value - _EPOCH) // _MILLISECOND).encode()
        elif isinstance(value, str):
            tag, data = b"S", value.encode()
        elif isinstance(value, bytes):
            tag, data = b"Y", value
        else:
            raise TypeError(f"cannot encode {type(value).__name__} canonically")
        out += tag + struct.pack(">I", len(data)) + data
    return bytes(out)


def to_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to whole milliseconds: as an Avro timestamp-millis reads back."""
    if moment.tzinfo is None:
        raise TypeError("a time without a time zone is ambiguous")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def disclosure_aad(disclosure_id: str, recipient: str) -> bytes:
    """Associated data binding a ciphertext to its disclosure and recipient."""
    return canonical("intelshare-aad-v1", disclosure_id, recipient)


# --- signatures and pseudonyms ---------------------------------------------------------------


def sign(private: Ed25519PrivateKey, message: bytes) -> bytes:
    """Ed25519 signature."""
    return private.sign(message)


def verify(public: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """SignatureError unless ``signature`` is ``public``'s over ``message``."""
    try:
        public.verify(signature, message)
    except (InvalidSignature, TypeError, ValueError):
        raise SignatureError("the signature does not verify with the exchange's key") from None


class Pseudonymiser:
    """Pseudonyms for one recipient: stable for that agency, unlinkable across agencies.

    The per-recipient key is HKDF-SHA256(secret, info="intelshare pseudonym v1|" + recipient),
    derived once; a pseudonym is ``ps-`` and 20 base32 characters of HMAC-SHA256(key, value).
    """

    __slots__ = ("_key", "recipient")

    def __init__(self, secret: bytes, recipient: str) -> None:
        if len(secret) < _KEY_BYTES:
            raise KeyFileError(f"a pseudonymisation secret must be {_KEY_BYTES} bytes")
        self.recipient = recipient
        info = _PSEUDONYM_INFO + recipient.encode()
        kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
        self._key = kdf.derive(secret)

    def __call__(self, value: str) -> str:
        """The pseudonym of ``value`` for this recipient."""
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).digest()
        return "ps-" + base64.b32encode(digest).decode().lower()[:20]

    def __repr__(self) -> str:
        return f"Pseudonymiser(recipient={self.recipient!r})"  # never the key


def pseudonym(secret: bytes, recipient: str, value: str) -> str:
    """A pseudonym for ``value``, stable for one recipient and unlinkable across recipients."""
    return Pseudonymiser(secret, recipient)(value)
