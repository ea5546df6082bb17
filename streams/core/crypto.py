"""The disclosure envelope (X25519 + HKDF-SHA256 + AES-256-GCM), Ed25519 signatures and keyed
pseudonyms.

A small recipe over pyca/cryptography primitives, in the manner of its ``fernet.py``: every
decryption failure raises the same opaque :class:`DecryptionError`, so nothing leaks why.
Randomness is a parameter of :func:`seal` (fresh by default), so the envelope has known-answer
tests. Key files are :mod:`streams.core.keyfiles`; the canonical encoding of what is signed is
:mod:`streams.core.canonical`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streams.core.canonical import canonical
from streams.core.keyednames import keyed_name
from streams.errors import DecryptionError, KeyFileError, SignatureError
from streams.i18n import msg

__all__ = [
    "ENVELOPES",
    "ENVELOPE_V1",
    "ENVELOPE_V2",
    "KEY_BYTES",
    "BatchSealer",
    "Pseudonymiser",
    "Sealed",
    "SubjectLinker",
    "disclosure_aad",
    "key_id",
    "link_key",
    "open_sealed",
    "parse_ed25519_public",
    "parse_x25519_public",
    "pseudonym",
    "pseudonymiser",
    "raw_public_key",
    "seal",
    "sign",
    "verify",
]

_ENVELOPE_INFO = b"intelshare disclosure v1"
_ENVELOPE_V2_INFO = b"intelshare disclosure v2|"
_PSEUDONYM_INFO = b"intelshare pseudonym v1|"
_LINK_INFO = b"intelshare oversight link v1"
_NONCE_BYTES = 12
KEY_BYTES = 32
"""Length of raw X25519 and Ed25519 public keys and of the pseudonymisation secret."""
_KEY_BYTES = KEY_BYTES


def key_id(raw_public: bytes) -> str:
    """First 16 hex characters of the SHA-256 of a raw public key."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def raw_public_key(text: str) -> bytes:
    """The raw 32 bytes of a public key written as base64 (a ``.pub`` file's content)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(msg("a public key must be base64 of the raw 32-byte key")) from exc
    if len(raw) != _KEY_BYTES:
        raise KeyFileError(
            msg(
                "a public key must be {size} bytes, not {count}",
                size=_KEY_BYTES,
                count=len(raw),
            )
        )
    return raw


def parse_x25519_public(b64: str) -> X25519PublicKey:
    """An agency's public key from base64 of its raw 32 bytes."""
    return X25519PublicKey.from_public_bytes(raw_public_key(b64))


def parse_ed25519_public(b64: str) -> Ed25519PublicKey:
    """The exchange's public key from base64 of its raw 32 bytes."""
    try:
        return Ed25519PublicKey.from_public_bytes(raw_public_key(b64))
    except ValueError as exc:  # mutation-equivalent: cryptography 50 accepts any 32 bytes here
        raise KeyFileError(msg("not a valid Ed25519 public key")) from exc


# --- the envelope ----------------------------------------------------------------------------


class Sealed(NamedTuple):
    """An encrypted payload."""

    ephemeral_public_key: bytes
    """Raw 32-byte X25519 key of the sender's one-time pair."""
    nonce: bytes
    """12-byte AES-GCM nonce."""
    ciphertext: bytes
    """AES-256-GCM ciphertext with its 16-byte tag."""


ENVELOPE_V1 = 1
"""One-time X25519 pair per disclosure; key = HKDF(shared, salt=ephemeral‖recipient,
info="intelshare disclosure v1")."""
ENVELOPE_V2 = 2
"""One X25519 pair per recipient for a short batch (:class:`BatchSealer`); a key per disclosure,
HKDF(shared, salt=ephemeral‖recipient, info="intelshare disclosure v2|" + disclosure id)."""
ENVELOPES = (ENVELOPE_V1, ENVELOPE_V2)


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes, context: bytes | None) -> bytes:
    info = _ENVELOPE_INFO if context is None else _ENVELOPE_V2_INFO + context
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=info)
    return kdf.derive(shared)


def _encrypt(key: bytes, nonce: bytes | None, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = nonce if nonce is not None else os.urandom(_NONCE_BYTES)
    if len(nonce) != _NONCE_BYTES:
        raise ValueError(f"an AES-GCM nonce is {_NONCE_BYTES} bytes")
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def seal(
    plaintext: bytes,
    recipient: X25519PublicKey,
    associated_data: bytes,
    *,
    ephemeral: X25519PrivateKey | None = None,
    nonce: bytes | None = None,
) -> Sealed:
    """Envelope v1: encrypt to ``recipient`` binding ``associated_data``; the one-time key pair
    and the nonce are fresh unless given (only known-answer tests give them: never reuse
    either)."""
    ephemeral = ephemeral or X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(recipient)
    key = _derive(shared, ephemeral_raw, recipient.public_bytes_raw(), None)
    sealed = _encrypt(key, nonce, plaintext, associated_data)
    return Sealed(ephemeral_raw, sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:])


class _Agreement:
    """One X25519 agreement with one recipient: the ephemeral pair's private half is dropped
    once the shared secret is computed."""

    __slots__ = ("made", "public", "salt", "shared", "uses")

    def __init__(self, recipient: X25519PublicKey, made: float, ephemeral: X25519PrivateKey):
        self.public = ephemeral.public_key().public_bytes_raw()
        self.shared = ephemeral.exchange(recipient)
        self.salt = self.public + recipient.public_bytes_raw()  # unread (mutation-equivalent)
        self.made = made
        self.uses = 0


class BatchSealer:
    """Envelope v2: one X25519 agreement per recipient for at most ``max_uses`` disclosures or
    ``max_age`` seconds, then a fresh one; each disclosure still gets its own key (HKDF of the
    shared secret with its disclosure id), a fresh nonce and its own associated data.

    X25519 key generation and agreement are most of sealing's cost (about 110 µs of 125 here);
    a batch trades per-disclosure forward secrecy for per-batch: whoever could read the
    worker's memory during those seconds could open that batch, and nothing before or after.
    """

    def __init__(
        self,
        *,
        max_uses: int = 1000,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        generate: Callable[[], X25519PrivateKey] = X25519PrivateKey.generate,
    ) -> None:
        self._max_uses = max_uses
        self._max_age = max_age
        self._clock = clock
        self._generate = generate  # known-answer tests pass a fixed key; never in production
        self._agreements: dict[bytes, _Agreement] = {}
        self._swept = clock()

    def seal(
        self,
        plaintext: bytes,
        recipient: X25519PublicKey,
        disclosure_id: str,
        associated_data: bytes,
        *,
        nonce: bytes | None = None,
    ) -> Sealed:
        """Encrypt to ``recipient`` under the key of ``disclosure_id``."""
        raw = recipient.public_bytes_raw()
        now = self._clock()
        if now - self._swept >= self._max_age:  # no shared secret outlives its batch's time
            self._swept = now
            self._agreements = {
                k: a for k, a in self._agreements.items() if now - a.made < self._max_age
            }
        agreement = self._agreements.get(raw)
        if (
            agreement is None
            or agreement.uses >= self._max_uses
            or now - agreement.made >= self._max_age
        ):
            agreement = _Agreement(recipient, now, self._generate())
            self._agreements[raw] = agreement
        agreement.uses += 1
        key = _derive(agreement.shared, agreement.public, raw, disclosure_id.encode())
        sealed = _encrypt(key, nonce, plaintext, associated_data)
        return Sealed(agreement.public, sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:])


def open_sealed(
    sealed: Sealed,
    private: X25519PrivateKey,
    associated_data: bytes,
    *,
    disclosure_id: str | None = None,
) -> bytes:
    """Decrypt an envelope v1, or v2 when ``disclosure_id`` is given; one opaque
    DecryptionError for a wrong key, tampering or a malformed envelope."""
    try:  # mutation-equivalent: these ValueErrors' texts, and "and" for "or" below (a bad
        # length alone fails in X25519 or AES-GCM): each still ends as the one DecryptionError
        if len(sealed.ephemeral_public_key) != _KEY_BYTES or len(sealed.nonce) != _NONCE_BYTES:
            raise ValueError("malformed envelope")
        ephemeral = X25519PublicKey.from_public_bytes(sealed.ephemeral_public_key)
        shared = private.exchange(ephemeral)  # raises ValueError on a low-order point
        if not any(shared):
            raise ValueError("all-zero shared secret")
        recipient = private.public_key().public_bytes_raw()
        context = None if disclosure_id is None else disclosure_id.encode()
        key = _derive(shared, sealed.ephemeral_public_key, recipient, context)
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, associated_data)
    except (InvalidTag, ValueError, TypeError):
        raise DecryptionError() from None


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
        raise SignatureError(msg("the signature does not verify with the exchange's key")) from None


class _Remembered(dict[str, str]):
    """Pseudonyms and links already computed: the same prisoners recur in report after report,
    and route asks for each twice (payload and audit record). HMAC plus Python's base32 cost
    about 15 µs a value. Bounded: emptied when full."""

    _LIMIT = 65_536

    def of(self, value: str, make: Callable[[str], str]) -> str:
        """The remembered result for ``value``, made (and kept) the first time."""
        known = self.get(value)
        if known is None:
            if len(self) >= self._LIMIT:
                self.clear()
            known = self[value] = make(value)
        return known


class Pseudonymiser:
    """Pseudonyms for one recipient: stable for that agency, unlinkable across agencies.

    The per-recipient key is HKDF-SHA256(secret, info="intelshare pseudonym v1|" + recipient),
    derived once; a pseudonym is ``ps-`` and 20 base32 characters of HMAC-SHA256(key, value).
    """

    __slots__ = ("_key", "_known", "recipient")

    def __init__(self, secret: bytes, recipient: str) -> None:
        if len(secret) < _KEY_BYTES:
            raise KeyFileError(
                msg("a pseudonymisation secret must be {size} bytes", size=_KEY_BYTES)
            )
        self.recipient = recipient
        info = _PSEUDONYM_INFO + recipient.encode()
        # salt=None is HKDF's default (so leaving it out is mutation-equivalent)
        kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
        self._key = kdf.derive(secret)
        self._known = _Remembered()

    def __call__(self, value: str) -> str:
        """The pseudonym of ``value`` for this recipient."""
        return self._known.of(value, self._make)

    def _make(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).digest()
        # 15 bytes: 24 chars, cut to 20 (mutation-equivalent: 16 bytes give the same first 20)
        return "ps-" + base64.b32encode(digest[:15]).decode().lower()[:20]

    def __repr__(self) -> str:
        return f"Pseudonymiser(recipient={self.recipient!r})"  # never the key


@functools.lru_cache(maxsize=256)
def pseudonymiser(secret: bytes, recipient: str) -> Pseudonymiser:
    """The recipient's :class:`Pseudonymiser`, its key derived once per secret and recipient
    (route makes one per disclosure otherwise)."""
    return Pseudonymiser(secret, recipient)


def pseudonym(secret: bytes, recipient: str, value: str) -> str:
    """A pseudonym for ``value``, stable for one recipient and unlinkable across recipients."""
    return pseudonymiser(secret, recipient)(value)


class SubjectLinker:
    """Keyed links from a subject's real id, for the oversight body only.

    The link key is HKDF-SHA256(secret, info="intelshare oversight link v1"): derived from the
    pseudonymisation secret, so the worker needs nothing new, but not that secret, so the
    oversight body that holds the link key (``intelshare keys export-link``) cannot compute any
    recipient's pseudonyms. A link is ``sl-`` and 26 base32 characters of HMAC-SHA256(key, id).
    """

    __slots__ = ("_key", "_known")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(msg("an oversight link key must be {size} bytes", size=KEY_BYTES))
        self._key = key
        self._known = _Remembered()

    @classmethod
    def from_secret(cls, secret: bytes) -> SubjectLinker:
        """The linker of the exchange whose pseudonymisation secret is ``secret`` (one per
        secret, so the links it has computed are kept across disclosures)."""
        return _linker(secret)

    def __call__(self, subject_id: str) -> str:
        """The link of ``subject_id``."""
        return self._known.of(subject_id, self._make)

    def _make(self, subject_id: str) -> str:
        return keyed_name(self._key, "sl-", subject_id)

    def __repr__(self) -> str:
        return "SubjectLinker()"  # never the key


@functools.lru_cache(maxsize=4)
def _linker(secret: bytes) -> SubjectLinker:
    return SubjectLinker(link_key(secret))


@functools.lru_cache(maxsize=4)
def link_key(secret: bytes) -> bytes:
    """The oversight link key derived from the exchange's pseudonymisation secret; derived
    once per secret, since route builds a linker for every disclosure."""
    if len(secret) < KEY_BYTES:
        raise KeyFileError(msg("a pseudonymisation secret must be {size} bytes", size=KEY_BYTES))
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LINK_INFO)
    return kdf.derive(secret)
