"""The oversight index against a real broker: fed from intel.audit, its checkpoints and
receipts (a synthetic log from ops/synthlog), and a log rewritten after indexing reported; on
SQLite and, with ``INTELSHARE_OVERSIGHT_DB``, on a real PostgreSQL server, with the same
tables and answers."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from ops.synthlog import write_log
from streams.audit.index import AuditIndex
from streams.audit.indexdb import schema_for
from streams.audit.indexquery import stats
from streams.cli.common import verification_keys
from streams.kafka.auditindex import read_from, refresh_index
from streams.kafka.clients import admin_client, publish
from streams.kafka.topics import create_topics
from streams.settings import Settings
from streams.topics import CATALOGUE, Topics


def _write(settings: Settings, seed: int) -> None:
    args = argparse.Namespace(
        records=40, keys=str(settings.home / "keys"), checkpoint_every=16, receipts=0.5,
        start="2026-01-01T00:00:00+00:00", step=60.0, seed=seed,
    )  # fmt: skip
    write_log(settings, args)


def _recreate_audit_topic(settings: Settings) -> None:
    topic = Topics(settings.topic_prefix).audit
    with admin_client(settings) as admin:
        admin.delete_topics([topic])
    deadline = time.monotonic() + 30
    while True:
        outcome = create_topics(settings, [s for s in CATALOGUE if s.name.endswith("intel.audit")])
        if outcome[0].created:
            return
        assert time.monotonic() < deadline, "the deleted topic did not go"
        time.sleep(0.5)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "intelshare"), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_index_follows_the_log_and_reports_one_rewritten_after_indexing(
    settings: Settings, cli_env: dict[str, str], tmp_path: Path, postgres_url: str
) -> None:
    """Records, checkpoints and receipts are indexed and verified; nothing is read twice; a
    log deleted and written again under the same key is reported, not indexed on top of. The
    same on PostgreSQL: the same tables, built by the command, and the same report."""
    _write(settings, seed=1)
    # an agency's hostile bytes among the receipts: skipped, never fatal to oversight
    receipts = Topics(settings.topic_prefix).receipts
    publish(settings, receipts, [(b"d-1", b"not a receipt"), (b"d-2", None)])
    keys = verification_keys(settings, None)
    index = AuditIndex.open(tmp_path / "index.sqlite", keys)
    first = refresh_index(settings, index)
    assert (first.records, first.checkpoints, first.problem) == (40, 3, None)
    status = index.status()
    assert status.sound, status.detail
    assert status.verified == 40
    assert status.checkpoint is not None
    assert status.checkpoint["tree_size"] == 40
    assert index.db.execute("SELECT count(*) FROM receipts").fetchone()[0] > 0
    assert refresh_index(settings, index).records == 0
    built = _cli(cli_env, "oversight", "index")  # the README's commands, on the same log
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("sound: 40 records verified and indexed")
    full = _cli(cli_env, "audit", "verify")  # reads the receipts itself (split views)
    assert full.returncode == 0, full.stdout + full.stderr
    new = _cli(cli_env, "audit", "verify", "--since-checkpoint")
    assert "(only what was new since the last check: 0 records" in new.stdout
    pg_env = cli_env | {"INTELSHARE_OVERSIGHT_DB": postgres_url}
    on_pg = _cli(pg_env, "oversight", "index")
    assert on_pg.returncode == 0, on_pg.stderr
    assert on_pg.stdout.startswith("sound: 40 records verified and indexed in postgresql://")
    assert str(urlsplit(postgres_url).password) not in on_pg.stdout + on_pg.stderr
    pg = AuditIndex.open(postgres_url, keys, schema_for(settings.topic_prefix))
    assert pg.fingerprint() == index.fingerprint()
    assert stats(pg.db) == stats(index.db)

    _recreate_audit_topic(settings)
    _write(settings, seed=2)  # same key, different content: a sound chain of its own
    again = refresh_index(settings, index)
    assert again.problem is not None
    assert "record 39 of the index is not in the log as indexed" in again.problem
    for env in (cli_env, pg_env):
        refused = _cli(env, "audit", "verify", "--since-checkpoint")
        assert refused.returncode == 1
        assert refused.stdout.startswith("BROKEN: record 39 of the index is not in the log")
    log = (
        (o, r)
        for _, o, r in read_from(settings, Topics(settings.topic_prefix).audit, {}, "AuditRecord")
    )
    assert (
        index.compare(log)
        == "record 0 of the index is not in the log as indexed: rebuild the index"
    )
    pg.close()
