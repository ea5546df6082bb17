"""Key rotation on disk, and the chain refusing a key used after it was retired."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, ChainVerifier, seal_record
from streams.core.crypto import key_id
from streams.core.keyfiles import (
    agency_keys,
    generate_agency_keys,
    generate_exchange_keys,
    load_ed25519_private,
    published_exchange_keys,
    retired_exchange_keys,
    rotate_agency_keys,
    rotate_exchange_key,
)
from streams.errors import ChainBrokenError, KeyFileError
from tests.factories import NOW
from tests.unit.test_chain import pending


def test_agency_rotation_keeps_the_old_key(tmp_path: Path) -> None:
    """The old pair moves aside under its key id, 0600; both open by key id afterwards."""
    old_key, _ = generate_agency_keys(tmp_path, "kz-knb")
    key, _, archived = rotate_agency_keys(tmp_path, "kz-knb")
    assert archived.is_file()
    assert stat.S_IMODE(archived.stat().st_mode) == 0o600
    keys = agency_keys([key, archived])
    assert len(keys) == 2
    assert old_key == key  # the current pair keeps its plain name


def test_rotating_twice_keeps_both_old_keys(tmp_path: Path) -> None:
    """Each rotation keeps its own predecessor; nothing is overwritten."""
    generate_agency_keys(tmp_path, "kz-knb")
    first = rotate_agency_keys(tmp_path, "kz-knb")[2]
    second = rotate_agency_keys(tmp_path, "kz-knb")[2]
    assert first != second
    assert first.is_file()
    assert second.is_file()


def test_nothing_to_rotate_is_named(tmp_path: Path) -> None:
    """Rotating keys that were never generated says so."""
    with pytest.raises(KeyFileError):
        rotate_agency_keys(tmp_path, "kz-knb")


def test_exchange_rotation_publishes_both_keys_and_the_retirement(tmp_path: Path) -> None:
    """Both signing keys stay published; the old one's retirement time is recorded."""
    generate_exchange_keys(tmp_path)
    old = load_ed25519_private(tmp_path / "exchange.key")
    rotate_exchange_key(tmp_path, NOW)
    new = load_ed25519_private(tmp_path / "exchange.key")
    old_id = key_id(old.public_key().public_bytes_raw())
    assert set(published_exchange_keys(tmp_path)) == {
        old_id,
        key_id(new.public_key().public_bytes_raw()),
    }
    assert retired_exchange_keys(tmp_path) == {old_id: NOW}
    assert (tmp_path / "exchange.pseudonym.key").is_file()


def test_record_signed_after_retirement_breaks_the_chain() -> None:
    """A retired key cannot sign records dated after its retirement."""
    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key().public_bytes_raw())
    early = seal_record(
        pending(0), sequence=0, prev_hash=GENESIS, key_id=kid, signing_key=key, now=NOW
    )
    late = seal_record(
        pending(1), sequence=1, prev_hash=early["hash"], key_id=kid, signing_key=key,
        now=NOW + timedelta(days=1),
    )  # fmt: skip
    verifier = ChainVerifier({kid: key.public_key()}, {kid: NOW + timedelta(hours=1)})
    verifier.feed(early)
    with pytest.raises(ChainBrokenError, match="after it was retired"):
        verifier.feed(late)
