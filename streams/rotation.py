"""Key rotation. The current key pair keeps its plain name (``kz-knb.key``, ``exchange.key``);
a rotated-out pair is kept beside it under its key id (``kz-knb.<key id>.key``), so:

- an agency rotates, registers the new public key, and new disclosures are encrypted to it,
  while ``intelshare consume --key NEW --key OLD`` still opens the older ones (each disclosure
  names the key it was encrypted to);
- the exchange rotates its signing key (the pseudonymisation secret stays, so pseudonyms stay
  stable), restarts the worker, and every record carries the id of the key that signed it;
  ``audit verify`` and ``consume`` accept every published ``exchange*.pub`` of the keys folder.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.crypto import (
    generate_agency_keys,
    generate_signing_key,
    key_id,
    load_x25519_private,
    parse_ed25519_public,
)
from streams.errors import KeyFileError

__all__ = [
    "agency_keys",
    "published_exchange_keys",
    "retired_exchange_keys",
    "rotate_agency_keys",
    "rotate_exchange_key",
]


def _archive(directory: Path, name: str, kid: str) -> Path:
    """Rename ``name.key``/``name.pub`` to ``name.<kid>.key``/``.pub``; never overwrite."""
    moves = [
        (directory / f"{name}{ext}", directory / f"{name}.{kid}{ext}") for ext in (".key", ".pub")
    ]
    for source, target in moves:
        if not source.is_file():
            raise KeyFileError(f"{source} does not exist: there is no key to rotate")
        if target.exists():
            raise KeyFileError(f"{target} exists already; this key was rotated before")
    for source, target in moves:
        source.rename(target)
    return moves[0][1]


def _current_id(directory: Path, name: str) -> str:
    """Key id of the current public key ``name.pub`` (base64 of the raw 32 bytes)."""
    path = directory / f"{name}.pub"
    try:
        return key_id(base64.b64decode(path.read_text().strip(), validate=True))
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read the public key {path}: {exc}") from exc


def rotate_agency_keys(directory: Path, agency_id: str) -> tuple[Path, Path, Path]:
    """Keep the current pair under its key id and write a new one; returns (key, pub, archived)."""
    archived = _archive(directory, agency_id, _current_id(directory, agency_id))
    key, pub = generate_agency_keys(directory, agency_id)
    return key, pub, archived


def rotate_exchange_key(directory: Path, now: datetime) -> tuple[Path, Path, Path]:
    """Keep the current signing pair under its key id, note when it was retired
    (``exchange.<key id>.retired``, published with the public keys), write a new pair."""
    kid = _current_id(directory, "exchange")
    archived = _archive(directory, "exchange", kid)
    (directory / f"exchange.{kid}.retired").write_text(now.isoformat() + "\n")
    key, pub = generate_signing_key(directory, "exchange")
    return key, pub, archived


def retired_exchange_keys(directory: Path) -> dict[str, datetime]:
    """When each rotated-out exchange key was retired, by key id."""
    retired = {}
    for path in directory.glob("exchange.*.retired"):
        try:
            retired[path.name.split(".")[1]] = datetime.fromisoformat(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"{path} must hold the ISO time the key was retired") from exc
    return retired


def published_exchange_keys(directory: Path) -> dict[str, Ed25519PublicKey]:
    """Every exchange signing key of the folder, current and rotated, by key id."""
    keys = {}
    for path in sorted(directory.glob("exchange*.pub")):
        public = parse_ed25519_public(path.read_text())
        keys[key_id(public.public_bytes_raw())] = public
    if not keys:
        raise KeyFileError(f"no exchange*.pub in {directory}; get the exchange's public key")
    return keys


def agency_keys(paths: list[Path]) -> dict[str, X25519PrivateKey]:
    """Private keys by the id of their public key, for consuming across a rotation."""
    keys = {}
    for path in paths:
        private = load_x25519_private(path)
        keys[key_id(private.public_key().public_bytes_raw())] = private
    return keys
