"""What the command modules share: the parser's shape, reading input files, default key paths.

Each audience's module (:mod:`.unit`, :mod:`.agency`, :mod:`.oversight`, :mod:`.operator`)
has a ``register(commands)`` that declares its commands' options beside their handlers; a
handler is ``(settings, args) -> exit code`` and is attached with ``set_defaults(handler=...)``.

Building the parser imports no Kafka client, codec or audit code: every ``intelshare`` run
builds all of it, so a handler imports what only it needs inside itself (or is named with
:func:`later`), and ``intelshare keys generate`` starts without loading Kafka.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.errors import ConfigError, KeyFileError
from streams.i18n import _, localise, msg
from streams.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from streams.audit.records import AuditFilter
    from streams.audit.verify import VerificationKeys
    from streams.audit.witness import WitnessPolicy
    from streams.core.crypto import SubjectLinker

__all__ = [
    "MAX_FILE_BYTES",
    "Commands",
    "Handler",
    "actions",
    "exchange_key_option",
    "key_file",
    "keys_dir",
    "later",
    "read_text",
    "say",
    "subject_linker",
    "verification_keys",
    "with_link",
    "witness_policy",
]

Handler = Callable[[Settings, argparse.Namespace], int]
Commands = Any  # argparse's _SubParsersAction[ArgumentParser], private in typeshed
MAX_FILE_BYTES = 64 * 1024 * 1024


def actions(
    commands: Commands, name: str, help: str, handlers: dict[str, tuple[str, Handler]]
) -> dict[str, argparse.ArgumentParser]:
    """A command with actions (``intelshare NAME ACTION``), each bound to its handler."""
    sub = commands.add_parser(name, help=help).add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    parsers = {}
    for action, (text, handler) in handlers.items():
        parsers[action] = sub.add_parser(action, help=text)
        parsers[action].set_defaults(handler=handler)
    return parsers


def exchange_key_option(parser: argparse.ArgumentParser, *, from_home: bool = True) -> None:
    """``--exchange-key FILE`` (repeatable), the exchange public keys a command checks
    signatures with: by default every ``exchange*.pub`` in ``$INTELSHARE_HOME/keys`` (an
    agency's or a unit's command); with ``from_home=False`` only those given (oversight and
    witnesses, who hold no exchange home)."""
    if from_home:
        help_text = _(
            "exchange public key(s); default every exchange*.pub in $INTELSHARE_HOME/keys"
        )
        parser.add_argument("--exchange-key", action="append", metavar="FILE", help=help_text)
    else:
        help_text = _("exchange public key (repeat)")
        parser.add_argument("--exchange-key", action="append", metavar="PUB", help=help_text)


def later(module: str, name: str) -> Handler:
    """The handler ``name`` of ``module``, imported only when its command runs."""

    def handler(settings: Settings, args: argparse.Namespace) -> int:
        found: Handler = getattr(importlib.import_module(module), name)
        return found(settings, args)

    handler.__qualname__ = handler.__name__ = name
    return handler


def read_text(name: str) -> str:
    """A UTF-8 file (or stdin for ``-``) without a byte-order mark, with errors that say what
    to do."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            msg("cannot read {name}: {strerror}", name=name, strerror=exc.strerror)
        ) from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            msg(
                "{name} is over {limit} bytes; split it into smaller files",
                name=name,
                limit=MAX_FILE_BYTES,
            )
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            msg(
                "{name} is not UTF-8 text (byte {start}); save it as UTF-8",
                name=name,
                start=exc.start,
            )
        ) from exc


def keys_dir(settings: Settings) -> Path:
    """``$INTELSHARE_HOME/keys``: where key files are written and looked for by default."""
    return settings.home / "keys"


def key_file(settings: Settings, name: str) -> Path:
    """A key file named on the command line: the path as given when it exists (or is
    absolute), else the file of that name in ``$INTELSHARE_HOME/keys``, where ``keys
    generate`` and ``keys export-link`` write; so ``--public-key kz-knb.pub`` works from any
    folder, as the README prints it. A name found in neither stays as given, for the reader
    to report."""
    given = Path(name)
    if given.is_absolute() or given.exists():
        return given
    in_home = keys_dir(settings) / given
    return in_home if in_home.exists() else given


def subject_linker(settings: Settings, file: str | None) -> SubjectLinker | None:
    """The oversight link key (``--link-key``, default ``oversight.link.key`` or, on the
    exchange's machine, derived from its pseudonymisation secret), or None."""
    from streams.core.keyfiles import load_link_key

    return load_link_key(keys_dir(settings), key_file(settings, file) if file else None)


def with_link(
    wanted: AuditFilter, linker: SubjectLinker | None, warn: Callable[[str], None]
) -> AuditFilter:
    """``wanted`` able to find a subject under every pseudonym, when the link key is at hand."""
    if wanted.subject is None:
        return wanted
    if linker is None:
        warn(
            _(
                "no oversight link key: only disclosures where the subject id went out in clear "
                "are found; get oversight.link.key from the exchange (`intelshare keys "
                "export-link`) and pass --link-key"
            )
        )
        return wanted
    return wanted._replace(subject_link=linker(wanted.subject))


def verification_keys(settings: Settings, files: list[str] | None) -> VerificationKeys:
    """The exchange keys to verify signatures with: ``--exchange-key`` files (each with its
    ``.retired`` file beside it, if rotated out), or every ``exchange*.pub`` in the keys
    folder with the retirement times published there."""
    from streams.audit.verify import VerificationKeys
    from streams.core.keyfiles import exchange_public_keys

    named = [key_file(settings, f) for f in files or ()]
    keys, retired = exchange_public_keys(keys_dir(settings), named)
    return VerificationKeys(keys, retired)


def witness_policy(
    settings: Settings, files: list[str] | None, minimum: int | None
) -> WitnessPolicy | None:
    """The witnesses to require (``--witness-key``, repeatable) and how many must have
    cosigned (``--min-cosignatures``, default 1 when keys are given); None for neither."""
    from streams.audit.witness import WitnessPolicy

    keys = witness_keys(settings, files)
    wanted = (1 if keys else 0) if minimum is None else minimum
    if wanted < 0 or wanted > len(keys):
        raise ConfigError(
            msg(
                "--min-cosignatures {wanted} with {count} --witness-key: give at least as many "
                "witness public keys as cosignatures required",
                wanted=wanted,
                count=len(keys),
            )
        )
    return WitnessPolicy(keys, wanted) if wanted else None


def witness_keys(settings: Settings, files: list[str] | None) -> dict[str, Ed25519PublicKey]:
    """Witnesses' public keys (``--witness-key`` files, see :func:`key_file`) by key id."""
    from streams.core.crypto import key_id, parse_ed25519_public

    keys = {}
    for name in files or ():
        try:
            public = parse_ed25519_public(key_file(settings, name).read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyFileError(
                msg(
                    "cannot read the witness key {name}: {strerror}",
                    name=name,
                    strerror=exc.strerror,
                )
            ) from exc
        except KeyFileError as exc:
            raise KeyFileError(
                msg("{name}: {exc}; give a witness's NAME.witness.pub", name=name, exc=exc)
            ) from exc
        keys[key_id(public.public_bytes_raw())] = public
    return keys


def say(line: str) -> None:
    """Print a progress line (a marked message), in the user's language, to stderr now."""
    print(localise(line), file=sys.stderr, flush=True)
