"""What the command modules share: the parser's shape, reading input files, default key paths.

Each audience's module (:mod:`.unit`, :mod:`.agency`, :mod:`.oversight`, :mod:`.operator`)
has a ``register(commands)`` that declares its commands' options beside their handlers; a
handler is ``(settings, args) -> exit code`` and is attached with ``set_defaults(handler=...)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.audit.records import AuditFilter
from streams.audit.verify import VerificationKeys
from streams.core.crypto import SubjectLinker
from streams.core.keyfiles import exchange_public_keys, load_link_key
from streams.errors import ConfigError
from streams.settings import Settings

__all__ = [
    "MAX_FILE_BYTES",
    "Commands",
    "Handler",
    "actions",
    "keys_dir",
    "read_text",
    "subject_linker",
    "verification_keys",
    "with_link",
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
        raise ConfigError(f"cannot read {name}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{name} is over {MAX_FILE_BYTES} bytes; split it into smaller files")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc


def keys_dir(settings: Settings) -> Path:
    """``$INTELSHARE_HOME/keys``: where key files are written and looked for by default."""
    return settings.home / "keys"


def subject_linker(settings: Settings, file: str | None) -> SubjectLinker | None:
    """The oversight link key (``--link-key``, default ``oversight.link.key`` or, on the
    exchange's machine, derived from its pseudonymisation secret), or None."""
    return load_link_key(keys_dir(settings), Path(file) if file else None)


def with_link(
    wanted: AuditFilter, linker: SubjectLinker | None, warn: Callable[[str], None]
) -> AuditFilter:
    """``wanted`` able to find a subject under every pseudonym, when the link key is at hand."""
    if wanted.subject is None:
        return wanted
    if linker is None:
        warn(
            "no oversight link key: only disclosures where the subject id went out in clear "
            "are found; get oversight.link.key from the exchange (`intelshare keys export-link`)"
            " and pass --link-key"
        )
        return wanted
    return wanted._replace(subject_link=linker(wanted.subject))


def verification_keys(settings: Settings, files: list[str] | None) -> VerificationKeys:
    """The exchange keys to verify signatures with: ``--exchange-key`` files (each with its
    ``.retired`` file beside it, if rotated out), or every ``exchange*.pub`` in the keys
    folder with the retirement times published there."""
    keys, retired = exchange_public_keys(keys_dir(settings), [Path(f) for f in files or ()])
    return VerificationKeys(keys, retired)
