"""Deduplication and correlation state, pure and replayable from its changelog.

- The same ``event_id`` is processed once within ``window`` (default 30 days): a repeat is a
  *replay* and produces nothing.
- The same content from the same unit under a new ``event_id`` within ``content_window``
  (24 h) is marked ``duplicate_of`` the first, and is not disclosed again.
- Reports from different units about the same subject and category within
  ``correlation_window`` (72 h, by ``occurred_at``) are linked with ``correlated_with``.

The subject/category index names a subject by ``index(subject_id)``. The enrich agent passes a
:class:`SubjectIndex`, an HMAC under a key derived from the exchange's pseudonymisation
secret, so its state store and changelog never hold a subject id in clear: quixstreams'
expiry filters an entry on read and writes no tombstone, so an index entry stays in the
compacted changelog until its key is written again, which an erasure cannot force. Why not
the alternatives (issue 13): keying by the subject's commitment, under the key that erasure
destroys, would make enrich create or wait for subject keys, which route makes after enrich
has seen the report; tombstoning the subject's keys at erasure would need a control record on
``intel.validated`` through enrich, exactly-once, a new schema kind and one more wait in
``erase``, to remove entries that hold only event and unit ids. What remains: the holder of
the exchange's secret can test a guessed id against an index key until the key is
overwritten, as it can against pseudonyms in the audit log (:mod:`streams.core.erasure`).

The entries live in a key-value :class:`Store`: a dict by default, or the agent's transactional
state store (quixstreams' RocksDB with its changelog), whose writes commit with the agent's
output. Every change is also returned as ``(key, value-or-None)``, and
:meth:`DedupState.restore` applies such changes, for a caller that keeps its own changelog.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from streams.core.keyednames import SecretNames
from streams.core.report import report_to_json

__all__ = ["DedupState", "Store", "SubjectIndex", "Verdict", "content_digest"]


Change = tuple[str, dict[str, Any] | None]


class Store(Protocol):
    """Where the entries live: the three calls of a quixstreams ``State``."""

    def get(self, key: str, default: Any = None) -> Any:
        """The entry of ``key``, or ``default``."""

    def set(self, key: str, value: Any) -> None:
        """Write the entry of ``key``."""

    def delete(self, key: str) -> None:
        """Remove the entry of ``key``."""


class _DictStore(dict[str, Any]):
    """A :class:`Store` in memory."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


class Verdict(NamedTuple):
    """What deduplication decided about one report."""

    replay: bool
    """The event id was already processed: drop it."""
    duplicate_of: str | None
    """Event id of the earlier report with the same content from the same unit."""
    correlated_with: tuple[str, ...]
    """Event ids of reports from other units on the same subject and category."""


def content_digest(report: Mapping[str, Any]) -> str:
    """SHA-256 of the report's content without its event id and reporting time."""
    body = report_to_json(report)
    for key in ("event_id", "reported_at", "enrichment"):
        body.pop(key, None)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class SubjectIndex(SecretNames):
    """How the correlation index names a subject: ``si-`` and 26 base32 characters of
    HMAC-SHA256 under HKDF(pseudonymisation secret, "...correlation index v1"); a key of its
    own, so an index key matches no key of ``intel.keys.subjects`` nor any pseudonym."""

    PREFIX = "si-"
    INFO = b"intelshare correlation index v1"
    __slots__ = ()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class DedupState:
    """Seen event ids, content digests and the subject/category index."""

    def __init__(
        self,
        *,
        window: timedelta = timedelta(days=30),
        content_window: timedelta = timedelta(hours=24),
        correlation_window: timedelta = timedelta(hours=72),
        store: Store | None = None,
        index: Callable[[str], str] | None = None,
    ) -> None:
        self.window_ms = int(window.total_seconds() * 1000)
        self.content_ms = int(content_window.total_seconds() * 1000)
        self.correlation_ms = int(correlation_window.total_seconds() * 1000)
        self._memory = _DictStore() if store is None else None
        self._entries: Store = self._memory if self._memory is not None else store  # type: ignore[assignment]
        self._index = index if index is not None else str
        """Names a subject in index keys; ids as given when None (in memory, in tests)."""

    @property
    def horizon(self) -> timedelta:
        """How long any entry matters: past this it may be forgotten."""
        return timedelta(milliseconds=max(self.window_ms, self.content_ms, self.correlation_ms))

    def __len__(self) -> int:
        return len(self._memory or ())

    def restore(self, key: str, value: dict[str, Any] | None) -> None:
        """Apply one changelog entry (None deletes)."""
        if value is None:
            self._entries.delete(key)
        else:
            self._entries.set(key, value)

    def observe(self, report: Mapping[str, Any], now: datetime) -> tuple[Verdict, list[Change]]:
        """Decide about ``report`` and record it; returns the verdict and the changes made."""
        now_ms = _ms(now)
        seen_key = f"seen:{report['event_id']}"
        seen = self._entries.get(seen_key)
        if seen is not None and now_ms - seen["at"] < self.window_ms:
            return Verdict(True, None, ()), []
        changes: list[Change] = [(seen_key, {"at": now_ms})]

        digest_key = f"content:{report['unit_id']}:{content_digest(report)}"
        earlier = self._entries.get(digest_key)
        duplicate_of = None
        if earlier is not None and now_ms - earlier["at"] < self.content_ms:
            duplicate_of = earlier["event_id"]
        else:
            changes.append((digest_key, {"event_id": report["event_id"], "at": now_ms}))

        correlated: list[str] = []
        occurred = _ms(report["occurred_at"])
        for subject in report["subjects"]:
            index_key = f"subject:{self._index(subject['subject_id'])}:{report['category']}"
            entries = self._entries.get(index_key, {"reports": []})["reports"]
            fresh = [e for e in entries if abs(occurred - e["occurred"]) < self.correlation_ms]
            correlated.extend(
                e["event_id"]
                for e in fresh
                if e["unit_id"] != report["unit_id"] and e["event_id"] not in correlated
            )
            mine = {
                "event_id": report["event_id"],
                "unit_id": report["unit_id"],
                "occurred": occurred,
            }
            changes.append((index_key, {"reports": [*fresh[-49:], mine]}))
        for key, value in changes:
            self.restore(key, value)
        return Verdict(False, duplicate_of, tuple(correlated)), changes

    def expired(self, now: datetime) -> list[Change]:
        """Tombstones for entries past every window, to keep an in-memory store small (a
        store with expiry of its own, like the agent's, needs none)."""
        if self._memory is None:
            return []
        now_ms = _ms(now)
        stale = [
            key
            for key, value in self._memory.items()
            if "at" in value and now_ms - value["at"] >= max(self.window_ms, self.content_ms)
        ]
        for key in stale:
            self._memory.delete(key)
        return [(key, None) for key in stale]
