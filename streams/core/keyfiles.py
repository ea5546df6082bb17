"""Key files and their rotation, under ``$INTELSHARE_HOME/keys`` by default.

Private keys are created mode 0600 before their first byte is written, and never overwritten
(:func:`write_private`); a private key readable by others is refused when loaded.

Rotation: the current key pair keeps its plain name (``kz-knb.key``, ``exchange.key``); a
rotated-out pair is kept beside it under its key id (``kz-knb.<key id>.key``), so:

- an agency rotates, registers the new public key, and new disclosures are encrypted to it,
  while ``intelshare consume --key NEW --key OLD`` still opens the older ones (each disclosure
  names the key it was encrypted to);
- the exchange rotates its signing key (the pseudonymisation secret stays, so pseudonyms stay
  stable), restarts the worker, and every record carries the id of the key that signed it;
  ``audit verify`` and ``consume`` accept every published ``exchange*.pub`` of the keys folder,
  and refuse a record signed by a retired key after its retirement.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.core.crypto import KEY_BYTES, SubjectLinker, key_id, link_key, parse_ed25519_public
from streams.core.fields import AGENCY_ID, AGENCY_RULE
from streams.errors import ConfigError, KeyFileError
from streams.i18n import msg

__all__ = [
    "agency_keys",
    "exchange_public_keys",
    "export_link_key",
    "generate_agency_keys",
    "generate_exchange_keys",
    "generate_signing_key",
    "load_ed25519_private",
    "load_link_key",
    "load_pseudonym_secret",
    "load_x25519_private",
    "password_file",
    "published_exchange_keys",
    "retired_exchange_keys",
    "rotate_agency_keys",
    "rotate_exchange_key",
    "write_private",
    "x25519_pair",
]

_KEY_BYTES = KEY_BYTES


def _exists(path: Path) -> KeyFileError:
    return KeyFileError(
        msg("{path} exists; keys are never overwritten: remove it or use another --out", path=path)
    )


def write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to ``path`` readable by its owner only, the folder too if created here.

    ``replace`` overwrites an existing file (a reset password); keys are never replaced.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not replace:
        _create_all([(path, data, 0o600)])
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise KeyFileError(msg("cannot write {path}: {why}", path=path, why=exc.strerror)) from exc
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, 0o600)
        handle.write(data)


def _create(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (O_EXCL: never overwrite, never follow)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise KeyFileError(msg("cannot create {path}: {why}", path=path, why=exc.strerror)) from exc
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
    if not AGENCY_ID.fullmatch(agency_id):  # the id becomes a file name
        raise ConfigError(msg("agency id {id!r} must be {rule}", id=agency_id, rule=AGENCY_RULE))
    return x25519_pair(directory, agency_id)


def x25519_pair(directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``STEM.key`` (X25519, PEM PKCS8, 0600) and ``STEM.pub``; KeyFileError if either
    exists."""
    key_path, pub_path = directory / f"{stem}.key", directory / f"{stem}.pub"
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
        raise KeyFileError(
            msg("no key {path}: generate it with `intelshare keys generate`", path=path)
        ) from exc
    except OSError as exc:
        raise KeyFileError(
            msg("cannot read key {path}: {why}", path=path, why=exc.strerror)
        ) from exc
    mode = os.fstat(fd).st_mode  # of the file opened, not of whatever the path names later
    if not stat.S_ISREG(mode):  # checked before fdopen, which refuses a folder with its own error
        os.close(fd)
        raise KeyFileError(msg("{path} is not a regular file", path=path))
    with os.fdopen(fd, "rb") as handle:
        if mode & 0o077:
            raise KeyFileError(
                msg(
                    "{path} is open to group or others (mode {mode:o}); run `chmod 600 {path}`",
                    path=path,
                    mode=stat.S_IMODE(mode),
                )
            )
        return handle.read()


def _load_pem(path: Path) -> object:
    data = _read_private(path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(msg("{path} is not an unencrypted PEM private key", path=path)) from exc


def load_x25519_private(path: Path) -> X25519PrivateKey:
    """An agency's private key; KeyFileError when absent, exposed or of another kind."""
    key = _load_pem(path)
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(
            msg("{path} is not an X25519 key; use the agency's .key file", path=path)
        )
    return key


def load_ed25519_private(path: Path) -> Ed25519PrivateKey:
    """The exchange's signing key; KeyFileError when absent, exposed or of another kind."""
    key = _load_pem(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            msg(
                "{path} is not an Ed25519 key; run `intelshare keys generate --exchange`", path=path
            )
        )
    return key


def load_pseudonym_secret(path: Path) -> bytes:
    """The exchange's 32-byte pseudonymisation secret; KeyFileError as for private keys."""
    try:
        secret = base64.b64decode(_read_private(path).strip(), validate=True)
    except binascii.Error as exc:
        raise KeyFileError(msg("{path} is not base64", path=path)) from exc
    if len(secret) != _KEY_BYTES:
        raise KeyFileError(
            msg("{path} must hold {size} bytes, not {n}", path=path, size=_KEY_BYTES, n=len(secret))
        )
    return secret


def _archive(directory: Path, name: str, kid: str) -> Path:
    """Rename ``name.key``/``name.pub`` to ``name.<kid>.key``/``.pub``; never overwrite."""
    moves = [
        (directory / f"{name}{ext}", directory / f"{name}.{kid}{ext}") for ext in (".key", ".pub")
    ]
    for source, target in moves:
        if not source.is_file():
            raise KeyFileError(
                msg("{source} does not exist: there is no key to rotate", source=source)
            )
        if target.exists():
            raise KeyFileError(
                msg("{target} exists already; this key was rotated before", target=target)
            )
    for source, target in moves:
        source.rename(target)
    return moves[0][1]


def _current_id(directory: Path, name: str) -> str:
    """Key id of the current public key ``name.pub`` (base64 of the raw 32 bytes)."""
    path = directory / f"{name}.pub"
    try:
        return key_id(base64.b64decode(path.read_text().strip(), validate=True))
    except (OSError, ValueError) as exc:
        raise KeyFileError(
            msg("cannot read the public key {path}: {exc}", path=path, exc=exc)
        ) from exc


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
    key, pub = generate_signing_key(directory, "exchange")  # the default (mutation-equivalent)
    return key, pub, archived


def retired_exchange_keys(directory: Path) -> dict[str, datetime]:
    """When each rotated-out exchange key was retired, by key id."""
    return {
        path.name.split(".")[1]: _retired_at(path) for path in directory.glob("exchange.*.retired")
    }


def _retired_at(path: Path) -> datetime:
    try:
        moment = datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as exc:
        raise KeyFileError(
            msg("{path} must hold the ISO time the key was retired", path=path)
        ) from exc
    if moment.tzinfo is None:
        raise KeyFileError(msg("{path} must hold a time with a zone", path=path))
    return moment


def published_exchange_keys(directory: Path) -> dict[str, Ed25519PublicKey]:
    """Every exchange signing key of the folder, current and rotated, by key id."""
    keys = {}
    for path in sorted(directory.glob("exchange*.pub")):
        public = parse_ed25519_public(path.read_text())
        keys[key_id(public.public_bytes_raw())] = public
    if not keys:
        raise KeyFileError(
            msg("no exchange*.pub in {dir}; get the exchange's public key", dir=directory)
        )
    return keys


def agency_keys(paths: list[Path]) -> dict[str, X25519PrivateKey]:
    """Private keys by the id of their public key, for consuming across a rotation."""
    keys = {}
    for path in paths:
        private = load_x25519_private(path)
        keys[key_id(private.public_key().public_bytes_raw())] = private
    return keys


def exchange_public_keys(
    folder: Path, files: Sequence[Path] = ()
) -> tuple[dict[str, Ed25519PublicKey], dict[str, datetime]]:
    """The exchange's signing keys to verify with, and when the rotated-out ones were retired.

    ``files`` (``--exchange-key``) name the ``.pub`` files to trust; a rotated key's retirement
    time travels beside it as ``<same name>.retired``. Without files: every ``exchange*.pub``
    and ``exchange.*.retired`` of ``folder``.
    """
    if not files:
        return published_exchange_keys(folder), retired_exchange_keys(folder)
    keys: dict[str, Ed25519PublicKey] = {}
    retired: dict[str, datetime] = {}
    for path in files:
        try:
            public = parse_ed25519_public(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyFileError(
                msg("cannot read the exchange key {path}: {why}", path=path, why=exc.strerror)
            ) from exc
        kid = key_id(public.public_bytes_raw())
        keys[kid] = public
        beside = path.with_suffix(".retired")
        if beside.is_file():
            retired[kid] = _retired_at(beside)
    return keys, retired


LINK_KEY = "oversight.link.key"
"""File name of the oversight link key (base64 of 32 bytes, mode 0600)."""


def export_link_key(folder: Path, out: Path) -> Path:
    """Write the oversight link key, derived from ``folder``'s pseudonymisation secret, to
    ``out`` (a folder: ``out/oversight.link.key``); never overwrites."""
    secret = load_pseudonym_secret(folder / "exchange.pseudonym.key")
    path = out / LINK_KEY
    write_private(path, base64.b64encode(link_key(secret)) + b"\n")
    return path


def load_link_key(folder: Path, given: Path | None = None) -> SubjectLinker | None:
    """The oversight linker: from ``given``, else ``folder/oversight.link.key``, else derived
    from ``folder/exchange.pseudonym.key`` on the exchange's own machine; None without any."""
    if given is not None:
        return SubjectLinker(load_pseudonym_secret(given))
    if (folder / LINK_KEY).exists():
        return SubjectLinker(load_pseudonym_secret(folder / LINK_KEY))
    secret = folder / "exchange.pseudonym.key"
    return SubjectLinker.from_secret(load_pseudonym_secret(secret)) if secret.exists() else None


def password_file(path: Path) -> tuple[str, bool]:
    """The password in ``path`` (a file its owner only may read), and whether it was created
    here, with 32 random characters, because there was none."""
    created = not (path.exists() or path.is_symlink())
    if created:
        write_private(path, (secrets.token_urlsafe(24) + "\n").encode())
    try:
        text = _read_private(path).decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise KeyFileError(
            msg("{path} is not UTF-8 text; remove it and a new one is made", path=path)
        ) from exc
    if not text:
        raise KeyFileError(msg("{path} is empty; remove it and a new password is made", path=path))
    return text, created
