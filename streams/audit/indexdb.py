"""The oversight index's database: SQLite in a file (the default) or a schema of a PostgreSQL
database (``INTELSHARE_OVERSIGHT_DB``, for an index several overseers share), behind one
connection class.

The index's queries (:mod:`.index`, :mod:`.indexschema`, :mod:`.indexquery`) are written once,
in SQL both engines take (``ON CONFLICT``, row values, ``TRUE``, ``"offset"`` quoted). What
still differs is translated here and nowhere else: ``?`` placeholders become ``%s``; in the
schema ``BLOB`` becomes ``BYTEA``, ``INTEGER`` ``BIGINT`` (times are milliseconds, past 2^31),
``TEXT`` ``TEXT COLLATE "C"`` (text sorts by code point, as in SQLite, so keyset pages and the
agreement ranges of :mod:`.indexquery` order alike) and ``WITHOUT ROWID`` goes; SQLite's
PRAGMAs; reading a field of a JSON column; and how a writer takes the write lock
(:meth:`IndexDb.writing`): ``BEGIN IMMEDIATE`` on SQLite, a transaction holding an advisory
lock on PostgreSQL. Two processes feeding one index thus write one after the other, and each
reads inside its transaction where the other stopped.

A PostgreSQL index lives in a schema of its own per log (:func:`schema_for`), as a SQLite one
in a file of its own. Messages show the URL without its password (:func:`shown_url`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streams.errors import OversightDatabaseError, OversightDatabaseUnavailableError
from streams.i18n import msg

__all__ = [
    "POSTGRES_SCHEMES",
    "IndexDb",
    "connect",
    "is_postgres_url",
    "postgres_url",
    "schema_for",
    "shown_url",
]

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SETTING = "INTELSHARE_OVERSIGHT_DB"
_SCHEMA_TYPES = (
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
    (re.compile(r"\s*\bWITHOUT ROWID\b"), ""),
)


def is_postgres_url(where: Path | str) -> bool:
    """Whether ``where`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(where, str) and where.split(":", 1)[0].lower() in POSTGRES_SCHEMES


def shown_url(url: str) -> str:
    """``url`` as it may be shown: scheme, user, host, port and database; no password, no
    query (which may hold one)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
    except ValueError:
        return "(a URL that cannot be read)"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def schema_for(prefix: str) -> str:
    """The PostgreSQL schema of the index of the log under topic ``prefix``: ``<prefix>oversight``
    (hashed when longer than PostgreSQL's 63-byte names)."""
    name = f"{prefix}oversight"
    if len(name.encode()) > 63:
        name = "oversight-" + hashlib.sha256(prefix.encode()).hexdigest()[:32]
    return name


@lru_cache(maxsize=256)
def _postgres_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def _postgres_schema(script: str) -> str:
    for pattern, replacement in _SCHEMA_TYPES:
        script = pattern.sub(replacement, script)
    return script


class IndexDb:
    """One connection to the index's database, taking the index's SQL (``?`` placeholders);
    rows come back as tuples of int, str and bytes on either engine."""

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        postgres: bool,
        shown: str,
        reopen: Callable[[], IndexDb],
        scrub: Callable[[str], str] = str,
        schema: str = "",
        lock_key: int = 0,
    ) -> None:
        self._connect = connect
        self._db = connect()
        self.postgres = postgres
        """Whether this is PostgreSQL (else SQLite)."""
        self.shown = shown
        """Where the index is, as it may be shown: a path, or the URL without password and
        the schema."""
        self._reopen = reopen
        self._scrub = scrub
        self._schema = '"' + schema.replace('"', '""') + '"'
        self._lock_key = lock_key
        self._depth = 0
        if postgres:
            import psycopg

            self._lost: tuple[type[Exception], ...] = (psycopg.OperationalError,)
        else:
            self._lost = (sqlite3.OperationalError,)

    def _failed(self, exc: Exception) -> OversightDatabaseError:
        reason = self._scrub(" ".join(str(exc).split()))
        if self.postgres:
            return OversightDatabaseUnavailableError(
                msg(
                    "the oversight index's database {where} failed ({reason}); check that it is "
                    "up, or correct INTELSHARE_OVERSIGHT_DB",
                    where=self.shown,
                    reason=reason,
                )
            )
        return OversightDatabaseError(
            msg(
                "the oversight index {where} failed ({reason}); check the disk and "
                "INTELSHARE_HOME, or rebuild it with `intelshare oversight index --rebuild`",
                where=self.shown,
                reason=reason,
            )
        )

    def _live(self) -> Any:
        """The PostgreSQL connection, made again when the last one was lost (outside a
        transaction: one that was lost mid-way has failed)."""
        if self._db.broken and not self._depth:
            self._db = self._connect()
        return self._db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; its cursor (iterable, ``fetchone``, ``fetchall``, ``rowcount``)."""
        try:
            if self.postgres:
                return self._live().execute(_postgres_sql(sql), params)
            return self._db.execute(sql, params)
        except self._lost as exc:
            raise self._failed(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of ``rows``."""
        try:
            if self.postgres:
                with self._live().cursor() as cursor:
                    cursor.executemany(_postgres_sql(sql), list(rows))
            else:
                self._db.executemany(sql, rows)
        except self._lost as exc:
            raise self._failed(exc) from exc

    def create(self, script: str) -> None:
        """Create the tables of ``script`` (``CREATE ... IF NOT EXISTS`` statements), in the
        PostgreSQL schema under the write lock (two processes creating one schema at once
        would otherwise collide in PostgreSQL's catalogue)."""
        if not self.postgres:
            self._db.executescript(script)
            return
        with self.writing():
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema}")
            self.execute(_postgres_schema(script))

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A transaction that no other writer of this index runs beside: what is read in it
        is what the last writer left (re-entrant: an inner block joins the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            if self.postgres:
                with self._live().transaction():
                    self._depth = 1
                    self._db.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                    yield
            else:
                self._db.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except self._lost as exc:
            raise self._failed(exc) from exc
        finally:
            self._depth = 0

    def empty(self, tables: Sequence[str]) -> None:
        """Delete every row of ``tables``, as one writer: PostgreSQL's TRUNCATE (which leaves
        no dead rows behind to vacuum), SQLite's DELETE (which truncates too)."""
        with self.writing():
            if self.postgres:
                self.execute(f"TRUNCATE {', '.join(tables)}")
            else:
                for table in tables:
                    self.execute(f"DELETE FROM {table}")  # noqa: S608  # our own table names

    def json_field(self, column: str, key: str) -> str:
        """The SQL expression of the text of ``key`` in the JSON object of ``column``."""
        if self.postgres:
            return f"({column}::json ->> '{key}')"
        return f"json_extract({column}, '$.{key}')"

    def reader(self) -> IndexDb:
        """Another connection to the same database (for a reader beside the writer)."""
        return self._reopen()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def connect(where: Path | str, schema: str = "oversight") -> IndexDb:
    """The index's database: a SQLite file (``:memory:`` for none on disk), or, for a
    ``postgresql://`` URL, ``schema`` in that database. OversightDatabaseError for a URL that
    is not one; OversightDatabaseUnavailableError when no server answers."""
    if isinstance(where, str) and "://" in where:
        return _postgres(postgres_url(where), schema)
    return _sqlite(where)


def postgres_url(value: str) -> str:
    """``value`` when it is a ``postgresql://`` (or ``postgres://``) URL; else
    OversightDatabaseError naming the setting."""
    if is_postgres_url(value):
        return value
    if "://" in value:
        raise OversightDatabaseError(
            msg(
                "INTELSHARE_OVERSIGHT_DB: {url} is not a postgresql:// URL; give "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to keep the index "
                "in SQLite under INTELSHARE_HOME",
                url=shown_url(value),
            )
        )
    raise OversightDatabaseError(  # not shown: it may be a libpq string with a password
        msg(
            "INTELSHARE_OVERSIGHT_DB is not a postgresql:// URL; give "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to keep the index "
            "in SQLite under INTELSHARE_HOME"
        )
    )


def _sqlite(where: Path | str) -> IndexDb:
    def raw() -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                str(where), check_same_thread=False, isolation_level=None, timeout=60
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise OversightDatabaseError(
                msg(
                    "cannot open the oversight index {where} ({reason}); check INTELSHARE_HOME",
                    where=str(where),
                    reason=str(exc),
                )
            ) from exc
        return db

    return IndexDb(raw, postgres=False, shown=str(where), reopen=lambda: _sqlite(where))


def _postgres(url: str, schema: str) -> IndexDb:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    shown = shown_url(url)
    try:
        urlsplit(url).port  # noqa: B018  # a port out of range raises
        secret = str(conninfo_to_dict(url).get("password") or "")
    except (ValueError, psycopg.ProgrammingError) as exc:
        raise OversightDatabaseError(
            msg(
                "INTELSHARE_OVERSIGHT_DB: {url} is not a URL PostgreSQL can use; give "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
                url=shown,
            )
        ) from exc

    def scrub(text: str) -> str:
        return text.replace(secret, "***") if secret else text

    def raw() -> psycopg.Connection[Any]:
        try:
            db = psycopg.connect(
                url, autocommit=True, connect_timeout=10, application_name="intelshare-oversight"
            )
            quoted = '"' + schema.replace('"', '""') + '"'
            db.execute(f"SET search_path TO {quoted}")  # its tables: IndexDb.create makes them
        except psycopg.Error as exc:
            raise OversightDatabaseUnavailableError(
                msg(
                    "cannot reach the oversight index's database {url} ({reason}); start it, "
                    "or correct INTELSHARE_OVERSIGHT_DB",
                    url=shown,
                    reason=scrub(" ".join(str(exc).split())),
                )
            ) from exc
        return db

    lock = int.from_bytes(hashlib.sha256(f"intelshare {schema}".encode()).digest()[:8], "big")
    return IndexDb(
        raw,
        postgres=True,
        shown=f"{shown} ({schema})",
        reopen=lambda: _postgres(url, schema),
        scrub=scrub,
        schema=schema,
        lock_key=lock - (1 << 63),
    )
