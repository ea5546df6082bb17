"""Names of subject ids under keys: ``keyed_name`` (a prefix and 26 base32 characters of an
HMAC-SHA256) and :class:`SecretNames`, names under a key of their own derived from the
exchange's pseudonymisation secret. Oversight links (:class:`streams.core.crypto.SubjectLinker`),
subject data-key lookups (:class:`streams.core.erasure.KeyLookup`), commitments and the
correlation index (:class:`streams.core.dedup.SubjectIndex`) are all made here, each under
its own key, so a name of one use matches no other's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streams.errors import KeyFileError
from streams.i18n import msg

__all__ = ["SECRET_BYTES", "SecretNames", "keyed_name"]

SECRET_BYTES = 32
"""Length of the pseudonymisation secret the keys are derived from."""


def keyed_name(key: bytes, prefix: str, text: str) -> str:
    """``prefix`` and 26 base32 characters of HMAC-SHA256(key, text): how the exchange names a
    subject id by a key (oversight links, data-key lookups, the correlation index)."""
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    # 20 bytes: 32 chars, cut to 26 (mutation-equivalent: 21 bytes give the same first 26)
    return prefix + base64.b32encode(digest[:20]).decode().lower()[:26]


class SecretNames:
    """Names of subject ids under a key of their own, derived from the exchange's
    pseudonymisation secret: :func:`keyed_name` under HKDF-SHA256(secret, ``INFO``), prefixed
    ``PREFIX``. A subclass sets both; one key per use, so names of one use match no other's
    (nor any pseudonym). The key never shows in ``repr``."""

    PREFIX: ClassVar[str] = ""
    INFO: ClassVar[bytes] = b""
    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < SECRET_BYTES:
            raise KeyFileError(
                msg("a pseudonymisation secret must be {size} bytes", size=SECRET_BYTES)
            )
        kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self.INFO)
        self._key = kdf.derive(secret)

    def __call__(self, subject_id: str) -> str:
        return keyed_name(self._key, self.PREFIX, subject_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"  # never the key
