"""The oversight page over HTTP (aiohttp): ``GET /`` the page, ``GET /api/disclosures`` JSON.

Read-only: GET routes only. The log is read from Kafka at most every ``ttl`` seconds (a
snapshot shared by the requests of that interval), in a thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from aiohttp import web

from streams.audit.records import matches, parse_filter
from streams.audit.verify import ChainStatus, VerificationKeys, key_hint, verify_log
from streams.errors import ConfigError, IntelshareError
from streams.kafka.auditlog import audit_records, latest_checkpoint, receipt_times
from streams.settings import Settings
from streams.web.page import disclosure_row, render_page

__all__ = ["Snapshot", "SnapshotCache", "oversight_app"]

_HEADERS = {
    # nothing on the page is fetched or run: no script, no image, no frame, no outside form
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Snapshot(NamedTuple):
    """The log as read at one moment."""

    records: list[dict[str, Any]]
    """Every audit record, in log order."""
    checkpoint: dict[str, Any] | None
    """The latest signed checkpoint."""
    status: ChainStatus
    """The chain verified from the first record."""
    received: dict[str, datetime]
    """When each disclosure was opened, from the receipts that verify."""


class SnapshotCache:
    """Reads the log again once the last snapshot is ``ttl`` seconds old."""

    def __init__(
        self,
        read: Callable[[], Snapshot],
        ttl: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._taken: float | None = None
        self._snapshot: Snapshot | None = None

    async def get(self) -> Snapshot:
        """The current snapshot, read anew when stale."""
        async with self._lock:
            now = self._clock()
            if self._snapshot is None or self._taken is None or now - self._taken >= self._ttl:
                self._snapshot = await asyncio.to_thread(self._read)
                self._taken = now
            return self._snapshot


def _reader(settings: Settings, keys: VerificationKeys) -> Callable[[], Snapshot]:
    def read() -> Snapshot:
        records = audit_records(settings)
        checkpoint = latest_checkpoint(settings)
        status = verify_log(records, checkpoint, keys)
        return Snapshot(records, checkpoint, status, receipt_times(settings))

    return read


def oversight_app(
    settings: Settings,
    keys: VerificationKeys,
    ttl: float = 3.0,
    linker: Callable[[str], str] | None = None,
) -> web.Application:
    """The oversight page's application, reading the log of ``settings``' broker and prefix;
    ``linker`` (the oversight link key) lets a subject filter find pseudonymised disclosures."""
    cache = SnapshotCache(_reader(settings, keys), ttl)

    async def snapshot_and_filter(request: web.Request) -> tuple[Snapshot, Any]:
        try:
            wanted = parse_filter(request.query)
            if wanted.subject is not None and linker is not None:
                wanted = wanted._replace(subject_link=linker(wanted.subject))
        except ConfigError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n", headers=_HEADERS) from exc
        try:
            return await cache.get(), wanted
        except IntelshareError as exc:
            raise web.HTTPServiceUnavailable(
                text=f"cannot read the disclosure log: {exc}\n", headers=_HEADERS
            ) from exc

    async def page(request: web.Request) -> web.Response:
        snapshot, wanted = await snapshot_and_filter(request)
        body = render_page(
            snapshot.records, snapshot.checkpoint, snapshot.status, wanted, snapshot.received
        )
        return web.Response(text=body, content_type="text/html", headers=_HEADERS)

    async def disclosures(request: web.Request) -> web.Response:
        snapshot, wanted = await snapshot_and_filter(request)
        rows = [
            disclosure_row(r, snapshot.received) for r in snapshot.records if matches(r, wanted)
        ]
        status = snapshot.status
        return web.json_response(
            {
                "chain": {
                    "sound": status.sound,
                    "records": status.records,
                    "broken_at": status.broken_at,
                    "detail": status.detail,
                    "key_hint": key_hint(status) or None,
                },
                "count": len(rows),
                "disclosures": rows,
            },
            headers=_HEADERS,
        )

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/api/disclosures", disclosures)
    return app
