"""The oversight body's index of the disclosure log (SQLite, or PostgreSQL through
:mod:`.indexdb`), fed incrementally.

Pure: decoded records come in with their Kafka offsets (reading the topics is
:mod:`streams.kafka.auditindex`'s). Each new record is verified once, on the way in, against
the previous record's hash and the signing keys (:meth:`ChainVerifier.resume`); the index keeps
only records that verified, in order, with the offset read to, so a restart continues where it
stopped. Each checkpoint is verified against the records it covers, from Merkle nodes the
index keeps as records arrive (the root at any past size is then O(log n) reads). Consultation
receipts count when they verify against the receipt key their agency registered.

A cache: feeding the log again gives the same tables (:meth:`AuditIndex.fingerprint`);
:meth:`AuditIndex.compare` names a record the log no longer holds. Queries: :mod:`.indexquery`.
Feed checkpoints before records (one read first covers records read after it): a checkpoint
larger than the records then found says records were removed from the log's end. Each feeding
step is one transaction under the index's write lock that starts from what the index holds
then, skipping what another process indexed meanwhile: two feeders of one index are harmless.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.audit.chain import ChainVerifier
from streams.audit.checkpoint import (
    NOT_THE_ROOT,
    against_checkpoint,
    cut_off,
    reason_of,
    verify_checkpoint,
)
from streams.audit.indexdb import IndexDb, connect
from streams.audit.indexschema import SCHEMA, IndexStatus, Positions, Rows, checkpoint_row, ms
from streams.audit.merkle import Frontier, leaf_hash, node_hash
from streams.audit.receipts import verified_receipts
from streams.audit.records import export_row, import_row
from streams.audit.verify import VERIFIED, VerificationKeys
from streams.errors import ChainBrokenError, SignatureError
from streams.i18n import msg

__all__ = ["AuditIndex", "IndexStatus", "Positions", "ms"]

_VERIFIED = "verified"
_PENDING = "pending"
_SPLIT_STATE = msg("split view: two checkpoints of this size name different roots")
_TABLES = ("records", "subjects", "daily", "nodes", "checkpoints", "receipts", "meta")
_DAY_MS = 86_400_000


class _Ids:
    """For the verifier's duplicate check: the disclosure ids of ``fed`` already indexed (one
    query per 500, not one per record), and those added since."""

    def __init__(self, db: IndexDb, fed: list[str]) -> None:
        self._new, self._known = set[str](), set[str]()
        for at in range(0, len(fed), 500):
            part = fed[at : at + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT disclosure_id FROM records WHERE disclosure_id IN ({marks})"  # noqa: S608
            self._known.update(ident for (ident,) in db.execute(sql, part))

    def __contains__(self, ident: object, /) -> bool:
        return ident in self._new or ident in self._known

    def add(self, ident: str, /) -> None:
        self._new.add(ident)


class AuditIndex:
    """The index in one database; ``keys`` verify what is fed to it."""

    def __init__(self, db: IndexDb, keys: VerificationKeys) -> None:
        self.db = db
        self._keys = keys
        db.create(SCHEMA)
        self._broken: tuple[int, str] | None = None
        self.broken_record: dict[str, Any] | None = None
        """The record that did not verify, if one did not."""
        self._problems: dict[int, str | None] = {}  # to translate; the database keeps English
        with db.writing():
            self._same_keys()
            self._recheck_checkpoints()

    def _same_keys(self) -> None:
        """What was verified with other keys is not taken on trust: the index starts again."""
        given = json.dumps(
            [sorted((k, v.public_bytes_raw().hex()) for k, v in self._keys.keys.items()),
             sorted((k, v.isoformat()) for k, v in self._keys.retired.items())]
        )  # fmt: skip
        if self._meta("keys", given) != given:
            self.clear()
        self._set("keys", given)

    def clear(self) -> None:
        """Empty every table: the index starts again from the log's first record."""
        self.db.empty(_TABLES)

    @classmethod
    def open(
        cls, where: Path | str, keys: VerificationKeys, schema: str = "oversight"
    ) -> AuditIndex:
        """The index at ``where``, created when absent: a SQLite file (``:memory:`` for none on
        disk), or ``schema`` of the database of a ``postgresql://`` URL."""
        return cls(connect(where, schema), keys)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def _meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def _set(self, key: str, value: object) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    def positions(self) -> Positions:
        """Where to read on from."""
        receipts = json.loads(self._meta("receipts_offset", "{}"))
        return Positions(
            int(self._meta("audit_offset", "0")),
            int(self._meta("checkpoints_offset", "0")),
            {int(p): int(o) for p, o in receipts.items()},
        )

    def count(self) -> int:
        """Records verified and indexed."""
        return int(self._meta("count", "0"))

    def _head(self) -> bytes:
        row = self.db.execute("SELECT hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return bytes(row[0]) if row else bytes(32)

    def add_records(self, items: Iterable[tuple[int, Mapping[str, Any]]], now: datetime) -> int:
        """Verify and index the next records (with their offsets); stops at the first that does
        not verify, which :meth:`status` then names. Returns how many were indexed; records
        below the offset the index holds (another process indexed them) are passed over."""
        added = 0
        with self.db.writing():
            count, start = self.count(), self.positions().audit
            items = [(o, r) for o, r in items if o >= start]
            fed = [str(r.get("disclosure_id")) for _, r in items]
            verifier = ChainVerifier.resume(
                self._keys.keys, self._keys.retired, count=count, head=self._head(),
                seen=_Ids(self.db, fed),
            )  # fmt: skip
            frontier, rows = self._frontier(count), Rows([], [], Counter(), [])
            for offset, record in items:
                if self._broken is not None:
                    break
                try:
                    verifier.feed(record)
                except ChainBrokenError as exc:
                    self._broken, self.broken_record = (exc.sequence, exc.reason), dict(record)
                    break
                self._insert(offset, record, frontier, rows)
                added += 1
                start = offset + 1
            self._write(rows)
            self._set("audit_offset", start)
            self._set("count", verifier.count)
            self._set("checked_at", now.isoformat())
            self._check_checkpoints(verifier.count)
        return added

    def _insert(
        self, offset: int, record: Mapping[str, Any], frontier: Frontier, rows: Rows
    ) -> None:
        seq, when = record["sequence"], ms(record["disclosed_at"])
        row = json.dumps(export_row(record), ensure_ascii=False, separators=(",", ":"))
        rows.records.append(
            (seq, offset, record["disclosure_id"], record["event_id"], record["agreement_id"],
             record["agreement_version"], record["recipient"], when, record["hash"], row),
        )  # fmt: skip
        subjects = {(s, 0) for s in record["subjects"]}
        subjects |= {(s, 1) for s in record.get("subject_links") or ()}
        rows.subjects.extend((s, k, seq) for s, k in subjects)
        agreement = f"{record['agreement_id']} v{record['agreement_version']}"
        if record.get("kind", "disclosure") == "disclosure":  # notices are not disclosures
            rows.daily[(when // _DAY_MS * _DAY_MS, record["recipient"], agreement)] += 1
        self._append_leaf(frontier, leaf_hash(record["hash"]), rows.nodes)

    def _write(self, rows: Rows) -> None:
        """A feeding step's rows, a statement per table (not per record: a round trip each)."""
        sql = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        self.db.executemany(sql, rows.records)
        sql = "INSERT INTO subjects VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
        self.db.executemany(sql, rows.subjects)
        self.db.executemany(
            "INSERT INTO daily VALUES (?, ?, ?, ?) "
            "ON CONFLICT (day, recipient, agreement) DO UPDATE SET n = daily.n + excluded.n",
            [(*key, n) for key, n in rows.daily.items()],
        )
        self.db.executemany("INSERT INTO nodes VALUES (?, ?, ?)", rows.nodes)

    def _append_leaf(self, frontier: Frontier, leaf: bytes, nodes: list[tuple[Any, ...]]) -> None:
        """:meth:`Frontier.append`, keeping every inner node it completes."""
        index, node, level = frontier.size, leaf, 0
        while index & 1:
            node = node_hash(frontier.roots.pop(), node)
            index, level = index >> 1, level + 1
            nodes.append((level, index, node))
        frontier.roots.append(node)
        frontier.size += 1

    def _leaf(self, seq: int) -> bytes:
        row = self.db.execute("SELECT hash FROM records WHERE seq = ?", (seq,)).fetchone()
        return leaf_hash(bytes(row[0]))

    def _node(self, level: int, idx: int) -> bytes:
        if level == 0:
            return self._leaf(idx)
        row = self.db.execute(
            "SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, idx)
        ).fetchone()
        return bytes(row[0])

    def _frontier(self, size: int) -> Frontier:
        """The perfect subtrees of the first ``size`` leaves, from the stored nodes."""
        roots, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                roots.append(self._node(level, start >> level))
                start += 1 << level
        return Frontier(size, roots)

    def add_checkpoints(self, items: Iterable[tuple[int, Mapping[str, Any]]]) -> int:
        """Keep the next signed checkpoints; each is verified once the records it covers are
        indexed. Returns how many were new."""
        added = 0
        with self.db.writing():
            start = self.positions().checkpoints
            for offset, checkpoint in items:
                if offset < start:
                    continue  # another process kept it
                row = {k: v.hex() if isinstance(v, bytes) else v for k, v in checkpoint.items()}
                row["created_at"] = checkpoint["created_at"].isoformat()
                cursor = self.db.execute(
                    "INSERT INTO checkpoints VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (checkpoint["tree_size"], offset, json.dumps(row, sort_keys=True), _PENDING),
                )
                added += cursor.rowcount
                if not cursor.rowcount:
                    self._same_root(checkpoint)
                start = offset + 1
            self._set("checkpoints_offset", start)
            self._check_checkpoints(self.count())
        return added

    def _same_root(self, checkpoint: Mapping[str, Any]) -> None:
        """A second checkpoint at a size already kept must name the same root."""
        size = checkpoint["tree_size"]
        kept = self.db.execute("SELECT row FROM checkpoints WHERE tree_size = ?", (size,))
        if checkpoint_row(kept.fetchone()[0])["root_hash"] != checkpoint["root_hash"]:
            sql = "UPDATE checkpoints SET state = ? WHERE tree_size = ?"
            self.db.execute(sql, (str(_SPLIT_STATE), size))
            self._problems[size] = _SPLIT_STATE

    def _recheck_checkpoints(self) -> None:
        """On opening: check again those that did not verify (the keys may have changed)."""
        self.db.execute(
            "UPDATE checkpoints SET state = ? WHERE state NOT IN (?, ?)",
            (_PENDING, _VERIFIED, str(_SPLIT_STATE)),
        )
        self._check_checkpoints(self.count())

    def _check_checkpoints(self, count: int) -> None:
        sql = "SELECT tree_size, row FROM checkpoints WHERE state = ? AND tree_size <= ?"
        for size, row in self.db.execute(sql, (_PENDING, count)).fetchall():
            problem = self._problems[size] = self._checkpoint_problem(checkpoint_row(row))
            state = _VERIFIED if problem is None else str(problem)
            self.db.execute("UPDATE checkpoints SET state = ? WHERE tree_size = ?", (state, size))

    def _checkpoint_problem(self, checkpoint: Mapping[str, Any]) -> str | None:
        try:
            verify_checkpoint(checkpoint, self._keys.keys)
        except SignatureError as exc:
            return reason_of(exc)
        size = checkpoint["tree_size"]
        if size == 0:
            return None
        if self._frontier(size).root() != checkpoint["root_hash"]:
            return NOT_THE_ROOT
        head = self.db.execute("SELECT hash FROM records WHERE seq = ?", (size - 1,)).fetchone()
        if bytes(head[0]) != checkpoint["head_hash"]:
            return msg("its head hash is not that of its last record")
        return None

    def add_receipts(
        self, items: Iterable[tuple[int, int, Mapping[str, Any]]], keys: Mapping[str, bytes]
    ) -> None:
        """Keep the first verified receipt time of each disclosure (``keys``: each agency's
        registered raw receipt key)."""
        read: dict[int, int] = {}
        pairs = []
        for partition, offset, receipt in items:
            pairs.append(receipt)
            read[partition] = offset + 1
        good = [(r["disclosure_id"], ms(r["received_at"])) for r in verified_receipts(pairs, keys)]
        with self.db.writing():
            at = self.positions().receipts
            at |= {p: max(o, at.get(p, 0)) for p, o in read.items()}
            self.db.executemany(
                "INSERT INTO receipts VALUES (?, ?) ON CONFLICT (disclosure_id) DO UPDATE SET "
                "received_at = CASE WHEN excluded.received_at < receipts.received_at "
                "THEN excluded.received_at ELSE receipts.received_at END",
                good,
            )
            self._set("receipts_offset", json.dumps(at, sort_keys=True))

    def status(self) -> IndexStatus:
        """The verified length and what is wrong, if anything."""
        count = self.count()
        checked = self._meta("checked_at")
        at = datetime.fromisoformat(checked) if checked else None
        latest = self.latest_checkpoint()
        if self._broken is not None:
            return IndexStatus(False, count, *self._broken, at, latest)
        bad = self.db.execute(
            "SELECT tree_size, state FROM checkpoints WHERE state NOT IN (?, ?) "
            "ORDER BY tree_size LIMIT 1", (_VERIFIED, _PENDING),
        ).fetchone()  # fmt: skip
        if bad is not None:
            kept = self._problems.get(bad[0]) or bad[1]
            detail = against_checkpoint(bad[0], _SPLIT_STATE if kept == _SPLIT_STATE else kept)
            return IndexStatus(False, count, None, detail, at, latest)
        beyond = self.db.execute(
            "SELECT max(tree_size) FROM checkpoints WHERE state = ?", (_PENDING,)
        ).fetchone()[0]
        if beyond is not None:
            detail = against_checkpoint(beyond, cut_off(count))
            return IndexStatus(False, count, None, detail, at, latest)
        return IndexStatus(True, count, None, VERIFIED, at, latest)

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """The largest checkpoint verified against the records."""
        row = self.db.execute(
            "SELECT row FROM checkpoints WHERE state = ? ORDER BY tree_size DESC LIMIT 1",
            (_VERIFIED,),
        ).fetchone()
        return checkpoint_row(row[0]) if row else None

    def last(self) -> tuple[int, bytes] | None:
        """The offset and hash of the last record indexed."""
        row = self.db.execute(
            'SELECT "offset", hash FROM records ORDER BY seq DESC LIMIT 1'
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def compare(self, items: Iterable[tuple[int, Mapping[str, Any]]]) -> str | None:
        """The first record of the index that the log (``items``, read from its start) does
        not hold as indexed, or None when every indexed record is there unchanged."""
        seen = 0
        cursor = self.db.execute('SELECT seq, "offset", hash FROM records ORDER BY seq')
        for (offset, record), row in zip(items, cursor, strict=False):
            seq, at, digest = row
            if offset != at or record.get("hash") != bytes(digest):
                return msg(
                    "record {seq} of the index is not in the log as indexed: rebuild the index",
                    seq=seq,
                )
            seen += 1
        if seen < self.count():
            return msg(
                "the log holds only {seen} of the {count} records indexed",
                seen=seen,
                count=self.count(),
            )
        return None

    def record(self, row: str) -> dict[str, Any]:
        """A decoded audit record from its stored row."""
        return import_row(json.loads(row), "index row")

    def fingerprint(self) -> str:
        """SHA-256 over every table but the time of the last check: equal for an index built
        incrementally and one rebuilt from the same log."""
        digest = hashlib.sha256()
        for table, order in (
            ("records", "seq"), ("subjects", "subject, link, seq"),
            ("daily", "day, recipient, agreement"), ("nodes", "level, idx"),
            ("checkpoints", "tree_size"), ("receipts", "disclosure_id"),
            ("meta WHERE key != 'checked_at'", "key"),
        ):  # fmt: skip
            for row in self.db.execute(f"SELECT * FROM {table} ORDER BY {order}"):  # noqa: S608
                digest.update(repr(row).encode())
        return digest.hexdigest()
