"""The tables of the oversight index (:mod:`streams.audit.index`), in SQLite's SQL
(:mod:`streams.audit.indexdb` translates the types for PostgreSQL).

``records`` holds each verified audit record (its export row as JSON, and the columns the
filters and sorts use, each with an index), ``subjects`` its subjects and oversight links,
``daily`` the disclosures per day, recipient and agreement version (for counts and charts),
``nodes`` the inner Merkle nodes completed so far (for the root at any past size),
``checkpoints`` each signed checkpoint and whether it agreed with the records, ``receipts`` the
first verified receipt time of each disclosure, ``meta`` the offsets read to and the time of
the last check. Also what the index answers with: :class:`Positions`, :class:`IndexStatus`.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["SCHEMA", "IndexStatus", "Positions", "Rows", "checkpoint_row", "ms"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, "offset" INTEGER NOT NULL, disclosure_id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL, agreement_id TEXT NOT NULL, agreement_version INTEGER NOT NULL,
    recipient TEXT NOT NULL, disclosed_at INTEGER NOT NULL, hash BLOB NOT NULL,
    row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_recipient ON records (recipient, seq);
CREATE INDEX IF NOT EXISTS records_agreement ON records (agreement_id, seq);
CREATE INDEX IF NOT EXISTS records_event ON records (event_id, seq);
CREATE INDEX IF NOT EXISTS records_time ON records (disclosed_at);
CREATE INDEX IF NOT EXISTS records_recipient_time ON records (recipient, disclosed_at);
CREATE INDEX IF NOT EXISTS records_agreement_time ON records (agreement_id, disclosed_at);
CREATE TABLE IF NOT EXISTS subjects (
    subject TEXT NOT NULL, link INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (subject, link, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily (
    day INTEGER NOT NULL, recipient TEXT NOT NULL, agreement TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (day, recipient, agreement)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size INTEGER PRIMARY KEY, "offset" INTEGER NOT NULL, row TEXT NOT NULL,
    state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS receipts (
    disclosure_id TEXT PRIMARY KEY, received_at INTEGER NOT NULL) WITHOUT ROWID;
"""


def checkpoint_row(row: str) -> dict[str, Any]:
    """A signed checkpoint from its ``checkpoints.row`` (JSON, hashes in hex)."""
    raw = json.loads(row)
    out: dict[str, Any] = dict(raw)
    for key in ("root_hash", "head_hash", "signature"):
        out[key] = bytes.fromhex(raw[key])
    out["created_at"] = datetime.fromisoformat(raw["created_at"]).astimezone(UTC)
    return out


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as the index stores times."""
    return int(moment.timestamp() * 1000)


class Positions(NamedTuple):
    """The next offset to read of each topic the index is fed from."""

    audit: int
    checkpoints: int
    receipts: dict[int, int]
    """By partition: intel.receipts has several."""


class IndexStatus(NamedTuple):
    """What the index's incremental verification says."""

    sound: bool
    """Every record indexed verified, and every checkpoint reached agrees with them."""
    verified: int
    """Records verified, in order from the first: the verified length."""
    broken_at: int | None
    """The first sequence number that did not verify, or None."""
    detail: str
    """One line: what was verified, or what is wrong."""
    checked_at: datetime | None
    """When the log was last read and checked."""
    checkpoint: dict[str, Any] | None
    """The largest checkpoint verified against the records."""


class Rows(NamedTuple):
    """What a feeding step writes: rows of records, subjects and nodes; per-day counts."""

    records: list[tuple[Any, ...]]
    subjects: list[tuple[Any, ...]]
    daily: Counter[tuple[int, str, str]]
    nodes: list[tuple[Any, ...]]
