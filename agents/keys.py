"""The exchange's own keys, loaded once at worker start from ``$INTELSHARE_HOME/keys``."""

from __future__ import annotations

from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from streams.core.crypto import key_id
from streams.core.keyfiles import load_ed25519_private, load_pseudonym_secret
from streams.settings import Settings

__all__ = ["ExchangeKeys", "load_exchange_keys"]


class ExchangeKeys(NamedTuple):
    """Signing key and pseudonymisation secret of the exchange."""

    signing_key: Ed25519PrivateKey
    """Ed25519 key that signs disclosures and audit records."""
    key_id: str
    """Id of its public key, carried by every signature."""
    pseudonym_secret: bytes
    """Secret from which each recipient's pseudonymisation key is derived."""


def load_exchange_keys(settings: Settings) -> ExchangeKeys:
    """Load the keys written by ``intelshare keys generate --exchange``; KeyFileError if absent."""
    folder = settings.home / "keys"
    signing = load_ed25519_private(folder / "exchange.key")
    raw = signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return ExchangeKeys(
        signing, key_id(raw), load_pseudonym_secret(folder / "exchange.pseudonym.key")
    )
