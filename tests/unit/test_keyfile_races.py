"""Key files against races and odd files: never written through a symlink, never over a file
that appeared meanwhile, never read from a FIFO (nor hung on one), never guessed from junk."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.core import keyfiles
from streams.core.crypto import SubjectLinker
from streams.core.keyfiles import (
    agency_keys,
    exchange_public_keys,
    generate_agency_keys,
    generate_exchange_keys,
    generate_signing_key,
    load_link_key,
    load_pseudonym_secret,
    load_x25519_private,
    published_exchange_keys,
    rotate_agency_keys,
    rotate_exchange_key,
    write_private,
)
from streams.errors import ConfigError, KeyFileError


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_key_is_never_written_over_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    """Creation itself refuses an existing file or symlink (O_EXCL | O_NOFOLLOW), so a file
    planted between the check and the write is neither overwritten nor followed."""
    planted, target = tmp_path / "planted.key", tmp_path / "target"
    planted.write_bytes(b"theirs")
    target.write_bytes(b"untouched")
    (tmp_path / "link.key").symlink_to(target)
    (tmp_path / "dangling.key").symlink_to(tmp_path / "nowhere")
    for name in ("planted.key", "link.key", "dangling.key"):
        path = tmp_path / name
        with pytest.raises(
            KeyFileError, match=rf"^{re.escape(str(path))} exists; keys are never overwritten"
        ):
            keyfiles._create(path, b"secret", 0o600)
    assert planted.read_bytes() == b"theirs"
    assert target.read_bytes() == b"untouched"
    assert not (tmp_path / "nowhere").exists()


def test_a_dangling_symlink_stops_generation(tmp_path: Path) -> None:
    """A symlink where a key would go is refused before anything is written."""
    (tmp_path / "kz-knb.key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyFileError, match=r"kz-knb\.key exists"):
        generate_agency_keys(tmp_path, "kz-knb")
    assert not (tmp_path / "elsewhere").exists()
    assert not (tmp_path / "kz-knb.pub").exists()


def test_a_key_is_created_private_from_its_first_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is created with its mode, not made private afterwards: even without the
    fchmod that follows, a key under umask 0 is 0600 and a public key 0644."""
    old = os.umask(0)
    try:
        monkeypatch.setattr(keyfiles.os, "fchmod", lambda fd, mode: None)
        keyfiles._create(tmp_path / "a.key", b"secret", 0o600)
        keyfiles._create(tmp_path / "a.pub", b"public", 0o644)
    finally:
        os.umask(old)
    assert (mode(tmp_path / "a.key"), mode(tmp_path / "a.pub")) == (0o600, 0o644)


def test_a_failed_generation_leaves_nothing_behind(tmp_path: Path) -> None:
    """When a later file cannot be created, those made before it are removed."""
    first, second = tmp_path / "first.key", tmp_path / "missing" / "second.key"
    with pytest.raises(
        KeyFileError, match=rf"^cannot create {re.escape(str(second))}: No such file"
    ):
        keyfiles._create_all([(first, b"a", 0o600), (second, b"b", 0o600)])
    assert not first.exists()


def test_public_keys_are_world_readable_and_private_ones_are_not(
    tmp_path: Path, umask_022: None
) -> None:
    """Generated .pub files are 0644, .key files 0600, for agencies and the exchange."""
    key, pub = generate_agency_keys(tmp_path, "kz-knb")
    (tmp_path / "s").mkdir()
    (tmp_path / "x").mkdir()
    signing_key, signing_pub = generate_signing_key(tmp_path / "s")
    assert (signing_key.name, signing_pub.name) == ("exchange.key", "exchange.pub")
    generate_exchange_keys(tmp_path / "x")
    for path in (pub, signing_pub, tmp_path / "x" / "exchange.pub"):
        assert mode(path) == 0o644, path
    for path in (key, signing_key, tmp_path / "x" / "exchange.key",
                 tmp_path / "x" / "exchange.pseudonym.key"):  # fmt: skip
        assert mode(path) == 0o600, path


def test_replacing_a_private_file_truncates_it_and_makes_it_private(
    tmp_path: Path, umask_022: None
) -> None:
    """write_private(replace=True) leaves exactly the new bytes, mode 0600, whatever the old
    file's mode; missing folders are made, private to the owner."""
    path = tmp_path / "new" / "deeper" / "password"
    write_private(path, b"a much longer old secret", replace=True)
    path.chmod(0o644)
    write_private(path, b"short", replace=True)
    assert path.read_bytes() == b"short"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    write_private(tmp_path / "new" / "first", b"x")
    assert mode(tmp_path / "new" / "first") == 0o600


def test_replacing_never_follows_a_symlink(tmp_path: Path) -> None:
    """A symlink at the path is refused (O_NOFOLLOW); what it points at is untouched."""
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    (tmp_path / "password").symlink_to(target)
    with pytest.raises(
        KeyFileError, match=rf"^cannot write {re.escape(str(tmp_path / 'password'))}: "
    ):
        write_private(tmp_path / "password", b"secret", replace=True)
    assert target.read_bytes() == b"untouched"


def test_a_fifo_as_a_key_path_is_refused_without_hanging(tmp_path: Path) -> None:
    """A FIFO planted as a key file is opened without waiting for a writer and refused as not
    a regular file (a writer is let in after 3 s, so a hang shows as a slow test, not a stuck
    one)."""
    fifo = tmp_path / "exchange.pseudonym.key"
    os.mkfifo(fifo, 0o600)

    def writer() -> None:
        with contextlib.suppress(OSError):  # no reader waiting: nothing hung
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(3.0, writer)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyFileError, match=rf"^{re.escape(str(fifo))} is not a regular file$"):
            load_pseudonym_secret(fifo)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 2.0


def test_a_key_path_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    """A symlink loop as the key path is refused with the system's reason."""
    loop = tmp_path / "loop.key"
    loop.symlink_to(loop)
    with pytest.raises(
        KeyFileError, match=rf"^cannot read key {re.escape(str(loop))}: .*symbolic links"
    ):
        load_x25519_private(loop)


def _secret_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "exchange.pseudonym.key"
    path.write_bytes(content)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    "content",
    [
        b"not base64 at all!",
        base64.b64encode(bytes(32))[:10] + b"*" + base64.b64encode(bytes(32))[10:],
        b"\xff\xfe",
    ],
)
def test_junk_in_a_secret_file_is_refused_not_skipped(tmp_path: Path, content: bytes) -> None:
    """A secret file holding anything but base64 is refused; junk is not skipped over."""
    path = _secret_file(tmp_path, content)
    with pytest.raises(KeyFileError, match=rf"^{re.escape(str(path))} is not base64$"):
        load_pseudonym_secret(path)


@pytest.mark.parametrize("size", [16, 31, 33])
def test_a_secret_of_another_length_is_refused(tmp_path: Path, size: int) -> None:
    """The secret is 32 bytes exactly; the message says how many were found."""
    path = _secret_file(tmp_path, base64.b64encode(bytes(size)) + b"\n")
    with pytest.raises(
        KeyFileError, match=rf"^{re.escape(str(path))} must hold 32 bytes, not {size}$"
    ):
        load_pseudonym_secret(path)
    good = _secret_file(tmp_path, base64.b64encode(bytes(range(32))) + b"\n")
    assert load_pseudonym_secret(good) == bytes(range(32))


def test_agency_keys_are_the_loaded_keys_by_key_id(tmp_path: Path) -> None:
    """consume --key A --key B: each private key under the id of its public key."""
    key, pub = generate_agency_keys(tmp_path, "kz-knb")
    (kid, private), = agency_keys([key]).items()  # fmt: skip
    raw = base64.b64decode(pub.read_text())
    assert private.public_key().public_bytes_raw() == raw
    assert kid == keyfiles.key_id(raw)


def test_exchange_rotation_files(tmp_path: Path) -> None:
    """Rotation archives the pair under its key id, notes the retirement beside it, and
    writes a new exchange.key; the published keys are both, the retired time read back."""
    generate_exchange_keys(tmp_path)
    kid = keyfiles.key_id(base64.b64decode((tmp_path / "exchange.pub").read_text()))
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    key, pub, archived = rotate_exchange_key(tmp_path, at)
    assert archived == tmp_path / f"exchange.{kid}.key"
    assert (key, pub) == (tmp_path / "exchange.key", tmp_path / "exchange.pub")
    assert (tmp_path / f"exchange.{kid}.pub").is_file()
    keys, retired = exchange_public_keys(tmp_path)
    assert len(keys) == 2
    assert kid in keys
    assert retired == {kid: at}


@pytest.mark.parametrize(
    ("text", "reason"),
    [("yesterday", "must hold the ISO time the key was retired"),
     ("2026-11-26T12:00:00", "must hold a time with a zone")],
)  # fmt: skip
def test_a_bad_retirement_note_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    """A retirement note that is not an ISO time with a zone is refused, naming the file."""
    generate_exchange_keys(tmp_path)
    note = tmp_path / "exchange.0123456789abcdef.retired"
    note.write_text(text)
    with pytest.raises(KeyFileError, match=rf"^{re.escape(str(note))} {reason}$"):
        exchange_public_keys(tmp_path)


def test_missing_exchange_keys_are_named(tmp_path: Path) -> None:
    """No exchange*.pub in the folder, or a named .pub that is not there, is said plainly."""
    with pytest.raises(
        KeyFileError, match=rf"^no exchange\*\.pub in {re.escape(str(tmp_path))}; get the"
    ):
        published_exchange_keys(tmp_path)
    missing = tmp_path / "exchange.pub"
    with pytest.raises(
        KeyFileError, match=rf"^cannot read the exchange key {re.escape(str(missing))}: No such"
    ):
        exchange_public_keys(tmp_path, [missing])


def test_a_replaced_file_is_created_private_from_its_first_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_private(replace=True) creates a new file 0600 even before its fchmod."""
    old = os.umask(0)
    try:
        monkeypatch.setattr(keyfiles.os, "fchmod", lambda fd, mode: None)
        write_private(tmp_path / "password", b"secret", replace=True)
    finally:
        os.umask(old)
    assert mode(tmp_path / "password") == 0o600


def test_rotation_faults_are_named(tmp_path: Path) -> None:
    """Nothing to rotate, a pair rotated before, and an unreadable public key are each said."""
    with pytest.raises(KeyFileError, match=r"^cannot read the public key .*kz-knb\.pub: "):
        rotate_agency_keys(tmp_path, "kz-knb")
    generate_agency_keys(tmp_path, "kz-knb")
    old_pub = (tmp_path / "kz-knb.pub").read_text()
    (tmp_path / "kz-knb.key").unlink()
    with pytest.raises(KeyFileError, match=r"kz-knb\.key does not exist: there is no key to"):
        rotate_agency_keys(tmp_path, "kz-knb")
    (tmp_path / "kz-knb.pub").unlink()
    generate_agency_keys(tmp_path, "kz-knb")
    new_pub = (tmp_path / "kz-knb.pub").read_text()
    rotate_agency_keys(tmp_path, "kz-knb")
    (tmp_path / "kz-knb.pub").write_text(new_pub)  # claims the rotated-out key again
    with pytest.raises(KeyFileError, match=r"exists already; this key was rotated before$"):
        rotate_agency_keys(tmp_path, "kz-knb")
    (tmp_path / "kz-knb.pub").write_text("AAAA*AAAA")  # junk is refused, not skipped
    with pytest.raises(KeyFileError, match=r"^cannot read the public key .*kz-knb\.pub: "):
        rotate_agency_keys(tmp_path, "kz-knb")
    assert old_pub != new_pub


def test_the_link_key_file_beside_the_keys_is_used(tmp_path: Path) -> None:
    """An oversight.link.key in the folder is the linker's key, before any secret there."""
    secret = _secret_file(tmp_path, base64.b64encode(bytes(range(32))) + b"\n")
    link = tmp_path / "oversight.link.key"
    link.write_bytes(base64.b64encode(bytes(32)) + b"\n")
    link.chmod(0o600)
    linker = load_link_key(tmp_path)
    assert linker is not None
    assert linker("KZ-P-1") == SubjectLinker(bytes(32))("KZ-P-1")
    assert secret.exists()


def test_an_agency_id_that_cannot_name_a_file_is_refused(tmp_path: Path) -> None:
    """The id becomes a file name: one with a slash is refused, naming the rule."""
    with pytest.raises(ConfigError, match=r"^agency id '\.\./x' must be 1-63 lower-case"):
        generate_agency_keys(tmp_path, "../x")


@pytest.mark.parametrize(
    "load", [keyfiles.load_x25519_private, keyfiles.load_ed25519_private,
             keyfiles.load_pseudonym_secret],
)  # fmt: skip
def test_a_folder_where_a_key_should_be_is_named_not_a_traceback(
    tmp_path: Path, load: object
) -> None:
    """A folder at a key's path (a careless `mkdir`, a volume mounted wrong) is a KeyFileError
    that says so, not an IsADirectoryError from deep inside."""
    folder = tmp_path / "kz-knb.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="is not a regular file"):
        load(folder)  # type: ignore[operator]
