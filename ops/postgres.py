"""A throwaway local PostgreSQL server, for the tests and measurements of the oversight index
on PostgreSQL (``INTELSHARE_OVERSIGHT_DB``).

``start()`` runs Debian's (or any) PostgreSQL binaries: ``initdb`` into a fresh folder under
the system's temporary folder, ``pg_ctl start`` on 127.0.0.1 on a free port with its Unix socket
in that folder, and creates the database ``intelshare``, owned by a superuser ``intelshare``
whose random password is in the URL it returns; ``stop()`` stops it and deletes the folder.
PostgreSQL refuses to run as root: as root the binaries run as the ``postgres`` user, which
Debian's package creates. No binaries is an error that says to install them, never a skip.

``python -m ops.postgres start`` prints the URL and the folder; ``python -m ops.postgres stop
FOLDER`` stops that server.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from streams.errors import LocalServerError

__all__ = ["LocalPostgres", "bin_dir", "main", "running", "start", "stop"]

INSTALL = "install PostgreSQL (Debian: `apt-get install postgresql`) or put initdb on PATH"
_USER = "intelshare"
_FAST = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
"""For tests: nothing of a throwaway server needs to survive a crash of the machine."""


class LocalPostgres(NamedTuple):
    """A running local server."""

    url: str
    """``postgresql://intelshare:PASSWORD@127.0.0.1:PORT/intelshare``."""
    folder: Path
    """Its data (``data/``), log (``log``) and Unix socket."""


def bin_dir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else the newest
    ``/usr/lib/postgresql/*/bin``; LocalServerError saying what to install when neither."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if versions:
        return Path(versions[-1]).parent
    raise LocalServerError(f"PostgreSQL's initdb was not found: {INSTALL}")


def _as_server_user() -> dict[str, Any]:
    """Keyword arguments of subprocess.run that drop root to ``postgres`` (initdb refuses
    root); none for anyone else."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise LocalServerError(
            f"PostgreSQL will not run as root and there is no user postgres to run it as: {INSTALL}"
        ) from exc
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(args: list[str], **kwargs: Any) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)
    if done.returncode != 0:
        said = (done.stderr or done.stdout)[-800:]
        raise LocalServerError(f"{Path(args[0]).name} failed ({done.returncode}): {said}")


def start(fast: bool = True) -> LocalPostgres:
    """A new server with an empty database; ``fast`` turns off fsync (tests)."""
    bins = bin_dir()
    drop = _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="intelshare-pg-"))
    try:
        password = secrets.token_urlsafe(18)
        (folder / "pw").write_text(password + "\n", encoding="utf-8")
        if drop:
            for path in (folder, folder / "pw"):
                os.chown(path, drop["user"], drop["group"])
        _run(
            [str(bins / "initdb"), "-D", str(folder / "data"), "-U", _USER, "-E", "UTF8",
             "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
             f"--pwfile={folder / 'pw'}"],
            **drop,
        )  # fmt: skip
        (folder / "pw").unlink()
        port = _free_port()
        options = ["-h", "127.0.0.1", "-p", str(port), "-k", str(folder), *(_FAST if fast else ())]
        _run(
            [str(bins / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
             "-t", "60", "-o", " ".join(options), "start"],
            **drop,
        )  # fmt: skip
        _run(
            [str(bins / "createdb"), "-h", str(folder), "-p", str(port), "-U", _USER, _USER],
            **drop,
        )
    except BaseException:
        stop(LocalPostgres("", folder))
        raise
    return LocalPostgres(f"postgresql://{_USER}:{password}@127.0.0.1:{port}/{_USER}", folder)


def stop(server: LocalPostgres) -> None:
    """Stop the server (immediately: nothing of it is kept) and delete its folder."""
    data = server.folder / "data"
    if (data / "postmaster.pid").exists():
        with contextlib.suppress(LocalServerError):
            _run(
                [str(bin_dir() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                **_as_server_user(),
            )
    shutil.rmtree(server.folder, ignore_errors=True)


@contextlib.contextmanager
def running(fast: bool = True) -> Iterator[LocalPostgres]:
    """A server for the duration of the block."""
    server = start(fast)
    try:
        yield server
    finally:
        stop(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.postgres", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", help="start a server; print its URL and folder")
    begin.add_argument("--durable", action="store_true", help="keep fsync on (measurements)")
    end = commands.add_parser("stop", help="stop the server of FOLDER and delete it")
    end.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            server = start(fast=not args.durable)
            print(server.url)
            print(server.folder)
        else:
            stop(LocalPostgres("", args.folder))
    except LocalServerError as exc:
        print(f"ops.postgres: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
