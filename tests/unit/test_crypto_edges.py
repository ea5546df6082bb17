"""The crypto recipe at its edges: public keys in text, batches of the v2 envelope to the
tick of the clock, pseudonyms remembered within bounds."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.core import crypto
from streams.core.crypto import (
    BatchSealer,
    Pseudonymiser,
    open_sealed,
    parse_ed25519_public,
    parse_x25519_public,
    raw_public_key,
)
from streams.errors import KeyFileError

RAW = bytes(range(32))
TEXT = base64.b64encode(RAW).decode()


def test_a_public_key_is_base64_of_its_32_bytes() -> None:
    """A .pub file's content, with its newline, reads as the raw key."""
    assert raw_public_key(TEXT + "\n") == RAW
    assert parse_x25519_public(TEXT).public_bytes_raw() == RAW
    assert parse_ed25519_public(f"  {TEXT}\n").public_bytes_raw() == RAW


@pytest.mark.parametrize("junk", [TEXT[:10] + "!" + TEXT[10:], TEXT[:10] + "*" + TEXT[10:], "€"])
def test_junk_in_a_public_key_is_refused_not_skipped(junk: str) -> None:
    """Characters outside base64 are refused, not skipped over to find 32 bytes."""
    with pytest.raises(KeyFileError, match=r"^a public key must be base64 of the raw 32-byte key$"):
        raw_public_key(junk)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_public_key_of_another_length_is_refused(size: int) -> None:
    """The message says how many bytes there were."""
    text = base64.b64encode(bytes(size)).decode()
    with pytest.raises(KeyFileError, match=rf"^a public key must be 32 bytes, not {size}$"):
        parse_ed25519_public(text)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


RECIPIENT = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
OTHER = X25519PrivateKey.from_private_bytes(bytes(range(2, 34)))


def _ephemeral(sealer: BatchSealer, recipient: X25519PrivateKey = RECIPIENT) -> bytes:
    sealed = sealer.seal(b"p", recipient.public_key(), "d-1", b"aad")
    assert open_sealed(sealed, recipient, b"aad", disclosure_id="d-1") == b"p"
    return sealed.ephemeral_public_key


def test_a_batch_is_a_thousand_disclosures_by_default() -> None:
    """The default batch: 1,000 disclosures share an agreement, the 1,001st starts another."""
    sealer = BatchSealer(clock=Clock())
    first = _ephemeral(sealer)
    assert all(_ephemeral(sealer) == first for _ in range(999))
    assert _ephemeral(sealer) != first


def test_a_batch_lasts_one_second_by_default() -> None:
    """The default batch time: an agreement is reused until just before 1 s, not at 1 s."""
    clock = Clock()
    sealer = BatchSealer(clock=clock)
    first = _ephemeral(sealer)
    clock.now += 0.999
    assert _ephemeral(sealer) == first
    clock.now += 0.001
    assert _ephemeral(sealer) != first


def test_an_agreement_that_outlived_a_sweep_still_ends_at_its_time() -> None:
    """An agreement kept by a sweep (it was young then) is replaced when its own time is up,
    though no sweep is due yet."""
    clock = Clock()
    sealer = BatchSealer(clock=clock)
    clock.now = 100.5
    first = _ephemeral(sealer)
    clock.now = 101.0  # a sweep: the agreement is 0.5 s old and kept
    _ephemeral(sealer, OTHER)
    clock.now = 101.5  # its time is up; the next sweep is not due until 102.0
    assert _ephemeral(sealer) != first


def test_an_agreement_made_after_the_last_sweep_survives_the_next() -> None:
    """The periodic sweep drops only agreements past their time: one made half a batch ago is
    still used after a sweep."""
    clock = Clock()
    sealer = BatchSealer(clock=clock)
    clock.now += 0.5
    first = _ephemeral(sealer)
    clock.now += 0.5  # a sweep is due: the agreement is 0.5 s old
    assert _ephemeral(sealer, OTHER) != first
    assert _ephemeral(sealer) == first


def test_no_shared_secret_is_kept_past_its_batch() -> None:
    """When its time is up, a recipient's agreement (its shared secret) is dropped from memory
    at the next sealing for anyone, exactly at the batch time, not only when that recipient
    is sealed to again."""
    clock = Clock()
    sealer = BatchSealer(clock=clock)
    _ephemeral(sealer, OTHER)
    clock.now += 1.0
    _ephemeral(sealer)
    held = sealer._agreements  # the secrets the sealer holds
    assert list(held) == [RECIPIENT.public_key().public_bytes_raw()]


def test_pseudonyms_are_remembered_and_the_memory_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value's pseudonym is computed once and then remembered; when the memory holds its
    limit, it is emptied before the next new value is kept."""
    monkeypatch.setattr(crypto._Remembered, "_LIMIT", 3)
    made: list[str] = []

    def make(value: str) -> str:
        made.append(value)
        return value.upper()

    memory = crypto._Remembered()
    assert [memory.of(v, make) for v in ("a", "b", "a", "c", "b")] == ["A", "B", "A", "C", "B"]
    assert made == ["a", "b", "c"]
    assert len(memory) == 3
    assert memory.of("d", make) == "D"
    assert dict(memory) == {"d": "D"}


def test_a_pseudonymiser_names_its_recipient_never_its_key() -> None:
    """The recipient is kept and shown; the secret and derived key never are."""
    alias = Pseudonymiser(bytes(range(32)), "kz-knb")
    assert alias.recipient == "kz-knb"
    assert repr(alias) == "Pseudonymiser(recipient='kz-knb')"
