"""The oversight index's database (``INTELSHARE_OVERSIGHT_DB``): the same answers on SQLite and on
a real PostgreSQL server, two writers of one index harmless, and a bad URL, a server that is
down or a wrong password each a named error that says which setting to fix and never shows the
password."""

from __future__ import annotations

import itertools
import socket
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from streams.audit.index import AuditIndex
from streams.audit.indexquery import SORTS, matching, stats
from streams.audit.records import AuditFilter
from streams.errors import OversightDatabaseError, OversightDatabaseUnavailableError
from streams.kafka.auditindex import open_index
from streams.settings import Settings
from tests.unit.test_audit_index import KEYS, NOW, _checkpoint, _log, _offsets

SIZES = (16, 64, 100, 150)


def _feed_in_rounds(
    index: AuditIndex, chain: list[dict[str, Any]], upto: int = 150, chunk: int = 10
) -> None:
    """As a feeding round does, from the offsets read first: the checkpoints then on the log,
    then its first ``upto`` records, ``chunk`` at a time."""
    at = index.positions()
    index.add_checkpoints(
        [(n, _checkpoint(chain, s)) for n, s in enumerate(SIZES) if n >= at.checkpoints]
    )
    items = [(o, r) for o, r in _offsets(chain[:upto]) if o >= at.audit]
    for start in range(0, len(items), chunk):
        index.add_records(items[start : start + chunk], NOW)


def _schema() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def test_postgresql_gives_what_sqlite_gives_on_the_same_log(
    postgres_url: str, tmp_path: Path
) -> None:
    """Same tables (the fingerprint), same pages in every order, same stats."""
    chain = _log(150)
    lite = AuditIndex.open(tmp_path / "index.sqlite", KEYS)
    pg = AuditIndex.open(postgres_url, KEYS, _schema())
    for index in (lite, pg):
        _feed_in_rounds(index, chain)
        assert index.status().sound, index.status().detail
    assert pg.fingerprint() == lite.fingerprint()
    assert stats(pg.db) == stats(lite.db)
    for sort, newest in itertools.product(SORTS, (True, False)):
        for wanted in (AuditFilter(), AuditFilter(agreement="KZ-KNB-2026-01")):
            assert list(matching(pg.db, wanted, sort, newest)) == list(
                matching(lite.db, wanted, sort, newest)
            )
    pg.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_writers_of_one_index_leave_what_one_would(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two processes feeding one index at once, each from the offsets it read before the
    other wrote: nothing is indexed twice or out of order, and the tables are those one
    writer alone makes."""
    if backend == "sqlite":
        where: Path | str = tmp_path / "shared.sqlite"
        alone = AuditIndex.open(tmp_path / "alone.sqlite", KEYS)
        schema = "oversight"
    else:
        where, schema = request.getfixturevalue("postgres_url"), _schema()
        alone = AuditIndex.open(where, KEYS, _schema())
    chain = _log(150)
    first, second = AuditIndex.open(where, KEYS, schema), AuditIndex.open(where, KEYS, schema)
    stale = second.positions()  # read before the first writer starts
    _feed_in_rounds(first, chain, upto=60)
    second.add_records([(o, r) for o, r in _offsets(chain[:90]) if o >= stale.audit], NOW)
    assert (first.count(), second.count()) == (90, 90)
    threads = [threading.Thread(target=_feed_in_rounds, args=(i, chain)) for i in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _feed_in_rounds(alone, chain)
    for index in (first, second):
        assert index.status().sound, index.status().detail
        assert index.fingerprint() == alone.fingerprint()
    for index in (first, second, alone):
        index.close()


def test_the_setting_picks_postgresql_a_schema_per_log_and_rebuild_empties_it(
    postgres_url: str, tmp_path: Path
) -> None:
    """``INTELSHARE_OVERSIGHT_DB`` read from the environment, never shown in a repr; each topic
    prefix has its own index; ``--rebuild`` starts it again."""
    settings = Settings.load({"INTELSHARE_OVERSIGHT_DB": postgres_url}, tmp_path / "none.toml")
    assert settings.oversight_db == postgres_url
    assert urlsplit(postgres_url).password not in repr(settings)
    one = Settings(home=tmp_path, topic_prefix=f"{_schema()}.", oversight_db=postgres_url)
    index = open_index(one, KEYS)
    _feed_in_rounds(index, _log(150), upto=20)
    assert index.db.shown.startswith(
        f"postgresql://intelshare@127.0.0.1:{urlsplit(postgres_url).port}/"
    )
    assert open_index(one, KEYS).count() == 20
    other = Settings(home=tmp_path, topic_prefix=f"{_schema()}.", oversight_db=postgres_url)
    assert open_index(other, KEYS).count() == 0
    assert open_index(one, KEYS, rebuild=True).count() == 0
    assert not (tmp_path / "oversight").exists()  # nothing in SQLite


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        "mysql://overseer:hunter2-secret@db.example/oversight",
        "host=db.example user=overseer password=hunter2-secret",
        "postgresql://overseer:hunter2-secret@127.0.0.1:99999/oversight",
        "postgresql://overseer:hunter2-secret@127.0.0.1/oversight?nonsense=1",
        "postgresql://overseer:hunter2-secret@[127.0.0.1/oversight",
    ],
)
def test_a_bad_url_is_refused_naming_the_setting(url: str, tmp_path: Path) -> None:
    """A URL of another database, a libpq string, a port out of range, an unknown option, an
    unclosed bracket: refused before any connection is tried."""
    settings = Settings(home=tmp_path, oversight_db=url)
    with pytest.raises(OversightDatabaseError) as refused:
        open_index(settings, KEYS)
    assert not isinstance(refused.value, OversightDatabaseUnavailableError)
    assert "INTELSHARE_OVERSIGHT_DB" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_server_that_is_down_is_a_retriable_error_naming_the_setting(tmp_path: Path) -> None:
    url = f"postgresql://overseer:hunter2-secret@127.0.0.1:{_free_port()}/oversight"
    with pytest.raises(OversightDatabaseUnavailableError) as down:
        open_index(Settings(home=tmp_path, oversight_db=url), KEYS)
    said = str(down.value)
    assert down.value.retriable
    assert "INTELSHARE_OVERSIGHT_DB" in said
    assert "hunter2" not in said
    assert f"postgresql://overseer@127.0.0.1:{urlsplit(url).port}/oversight" in said


def test_a_wrong_password_is_refused_without_showing_it(postgres_url: str, tmp_path: Path) -> None:
    parts = urlsplit(postgres_url)
    wrong = postgres_url.replace(f":{parts.password}@", ":hunter2-secret@")
    with pytest.raises(OversightDatabaseUnavailableError) as refused:
        open_index(Settings(home=tmp_path, oversight_db=wrong), KEYS)
    said = str(refused.value)
    assert "password authentication failed" in said
    assert "hunter2" not in said
    assert str(parts.password) not in said


def test_a_lost_connection_is_a_named_error_and_the_next_query_connects_again(
    postgres_url: str,
) -> None:
    """The server ended the index's session (a restart, a failover): that query fails saying
    which setting to check; the next one connects again."""
    index = AuditIndex.open(postgres_url, KEYS, _schema())
    pid = index.db.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(OversightDatabaseUnavailableError, match="INTELSHARE_OVERSIGHT_DB"):
        index.count()
    assert index.count() == 0
    index.close()
