"""The oversight page over HTTP (aiohttp): ``GET /`` the page, ``GET /api/disclosures`` JSON.

Read-only: GET routes only. The log (and the published agreements, for each disclosure's
agreement status) is read from Kafka at most every ``ttl`` seconds (a snapshot shared by the
requests of that interval), in a thread so the event loop stays free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from streams.audit.records import matches, parse_filter
from streams.audit.verify import ChainStatus, VerificationKeys, verify_log
from streams.audit.witness import WitnessView, witness_views
from streams.core.policy import Agreement
from streams.errors import ConfigError, IntelshareError, NotAuthorisedError, TopicMissingError
from streams.kafka.auditlog import audit_records, cosignatures, latest_checkpoint, receipt_times
from streams.kafka.registry import published_agreements
from streams.settings import Settings
from streams.topics import Topics
from streams.web.cache import TimedCache
from streams.web.page import (
    agreement_status,
    disclosure_row,
    key_problem_hint,
    newest_first,
    render_page,
)

__all__ = ["LOCAL_HOSTS", "Snapshot", "SnapshotCache", "host_guard", "oversight_app"]

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
    agreements: dict[str, Agreement] | None = None
    """The latest published version of each agreement, or None when they could not be read."""
    agreements_problem: str | None = None
    """Why the agreements could not be read."""
    witnesses: list[WitnessView] | None = None
    """Each witness's last cosignature, or None when the cosignatures could not be read."""


class SnapshotCache(TimedCache[Snapshot]):
    """Reads the log again once the last snapshot is ``ttl`` seconds old."""

    def __init__(
        self,
        read: Callable[[], Snapshot],
        ttl: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(read, ttl, clock)


def _reader(settings: Settings, keys: VerificationKeys) -> Callable[[], Snapshot]:
    def read() -> Snapshot:
        records = audit_records(settings)
        checkpoint = latest_checkpoint(settings)
        status = verify_log(records, checkpoint, keys)
        return Snapshot(records, checkpoint, status, receipt_times(settings))

    return read


def _with_witnesses(
    read: Callable[[], Snapshot], settings: Settings, keys: Mapping[str, Ed25519PublicKey]
) -> Callable[[], Snapshot]:
    """``read``, then each trusted witness's last cosigned size and time; ``read`` alone when
    no witness key was given (``oversight serve --witness-key``)."""
    if not keys:
        return read

    def both() -> Snapshot:
        snapshot = read()
        return snapshot._replace(witnesses=witness_views(cosignatures(settings), keys))

    return both


def _with_agreements(read: Callable[[], Snapshot], settings: Settings) -> Callable[[], Snapshot]:
    """``read``, then the published agreements; a credential that may not read them (the
    oversight role's ACLs do not grant ``intel.agreements``) gets the page without statuses
    and the reason, not an error."""

    def both() -> Snapshot:
        snapshot = read()
        try:
            return snapshot._replace(agreements=published_agreements(settings))
        except (NotAuthorisedError, TopicMissingError) as exc:
            topic = Topics(settings.topic_prefix).agreements
            problem = f"{topic} could not be read with this broker user ({exc})"
            return snapshot._replace(agreements_problem=problem)

    return both


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
"""The names the page answers to without ``--allow-host``."""


def host_guard(allowed: Sequence[str], command: str = "intelshare oversight serve") -> Any:
    """A middleware that answers 421 to a request for any other Host: a page on 127.0.0.1 is
    otherwise open to DNS rebinding, where a web page the overseer visits resolves its own name
    to 127.0.0.1 and reads the log through the browser. ``command`` is the one to restart with
    ``--allow-host``."""
    names = {name.lower() for name in allowed}

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        host = (request.headers.get("Host") or "").lower()
        name = host[1:].partition("]")[0] if host.startswith("[") else host.rpartition(":")[0]
        if (name or host) not in names:
            raise web.HTTPMisdirectedRequest(
                text="this page answers only to the host names it serves "
                f"({', '.join(sorted(names))}); to reach it under another name, start "
                f"`{command}` with --allow-host NAME\n",
                headers=_HEADERS,
            )
        response: web.StreamResponse = await handler(request)
        return response

    return guard


def oversight_app(
    settings: Settings,
    keys: VerificationKeys,
    ttl: float = 3.0,
    linker: Callable[[str], str] | None = None,
    hosts: Sequence[str] = (),
    witness_keys: Mapping[str, Ed25519PublicKey] | None = None,
) -> web.Application:
    """The oversight page's application, reading the log of ``settings``' broker and prefix;
    ``linker`` (the oversight link key) lets a subject filter find pseudonymised disclosures.
    It answers only requests whose Host is 127.0.0.1, localhost or one of ``hosts``."""
    read = _with_witnesses(_reader(settings, keys), settings, witness_keys or {})
    cache = SnapshotCache(_with_agreements(read, settings), ttl)
    key_ids = tuple(keys.keys)

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
            snapshot.records,
            snapshot.checkpoint,
            snapshot.status,
            wanted,
            snapshot.received,
            agreements=snapshot.agreements,
            agreements_problem=snapshot.agreements_problem,
            key_ids=key_ids,
            now=datetime.now(UTC),
            witnesses=snapshot.witnesses,
        )
        return web.Response(text=body, content_type="text/html", headers=_HEADERS)

    async def disclosures(request: web.Request) -> web.Response:
        snapshot, wanted = await snapshot_and_filter(request)
        now = datetime.now(UTC)
        rows = [
            disclosure_row(
                r,
                snapshot.received,
                agreement_status(
                    r["agreement_id"], r["agreement_version"], snapshot.agreements, now
                ),
            )
            for r in newest_first(r for r in snapshot.records if matches(r, wanted))
        ]
        status = snapshot.status
        hint = key_problem_hint(status, snapshot.records, snapshot.checkpoint, key_ids)
        return web.json_response(
            {
                "chain": {
                    "sound": status.sound,
                    "records": status.records,
                    "broken_at": status.broken_at,
                    "detail": status.detail,
                    "key_hint": hint or None,
                },
                "count": len(rows),
                "disclosures": rows,
            },
            headers=_HEADERS,
        )

    app = web.Application(middlewares=[host_guard(LOCAL_HOSTS + tuple(hosts))])
    app.router.add_get("/", page)
    app.router.add_get("/api/disclosures", disclosures)
    return app
