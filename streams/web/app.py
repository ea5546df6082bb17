"""The oversight page over HTTP (aiohttp): ``GET /`` the page, ``GET /api/disclosures`` JSON,
``GET /download.csv`` and ``/download.jsonl`` the disclosures that meet the filters.

Read-only: GET routes only. Every request reads the oversight index
(:mod:`streams.audit.index`), never the whole log: a page at a time, counts and charts from its
totals. The index is fed from Kafka, what is new only, at most every ``ttl`` seconds, in a
thread so the event loop stays free (:class:`IndexFeed`); the published agreements (for each
disclosure's agreement status) and the witnesses' cosignatures are read in the same round.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from streams.audit.index import AuditIndex, IndexStatus
from streams.audit.indexquery import Page, count
from streams.audit.indexquery import page as page_of
from streams.audit.records import export_row, parse_filter, to_csv
from streams.audit.verify import VerificationKeys
from streams.audit.witness import WitnessView, witness_views
from streams.core.policy import Agreement
from streams.core.times import format_time
from streams.errors import (
    ConfigError,
    IntelshareError,
    NotAuthorisedError,
    OversightDatabaseError,
    TopicMissingError,
)
from streams.i18n import negotiate, use_locale
from streams.kafka.auditindex import open_index, refresh_index
from streams.kafka.auditlog import cosignatures
from streams.kafka.registry import published_agreements
from streams.settings import Settings
from streams.topics import Topics
from streams.web.cache import RefreshingValue
from streams.web.indexpage import Listing, chain_status, render_index_page, rows_of
from streams.web.page import key_problem_hint

__all__ = ["LOCAL_HOSTS", "FeedState", "IndexFeed", "host_guard", "oversight_app"]

_PAGE = 50
"""Disclosures per page (and per API answer unless ``limit`` says otherwise)."""
_MAX_PAGE = 1000

_HEADERS = {
    # nothing on the page is fetched or run: no script, no image, no frame, no outside form
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class FeedState(NamedTuple):
    """What the last round of feeding the index found, besides the index itself."""

    status: IndexStatus
    """The index's verification: verified length, time of the last check, what is wrong."""
    problem: str | None = None
    """Why the last round could not read the log, or that the log no longer holds what was
    indexed; None when it could."""
    rounds: int = 0
    """Rounds that read the log."""
    agreements: dict[str, Agreement] | None = None
    """The latest published version of each agreement, or None when they could not be read."""
    agreements_problem: str | None = None
    """Why the agreements could not be read."""
    witnesses: list[WitnessView] | None = None
    """Each witness's last cosignature, or None when no witness key was given."""
    broken_record: dict[str, Any] | None = None
    """The record that did not verify, for the page's hint about keys."""


class IndexFeed:
    """Keeps the index fresh: a round reads what is new on the log (in a thread, one at a
    time); a request is answered from the index as it stands, and one that finds the last round
    ``ttl`` seconds old starts the next (``ttl`` 0: every request waits for a round)."""

    def __init__(
        self,
        settings: Settings,
        keys: VerificationKeys,
        path: Path | None,
        witness_keys: Mapping[str, Ed25519PublicKey],
    ) -> None:
        if path is None:
            self.index = open_index(settings, keys)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.index = AuditIndex.open(path, keys)
        self.reader = self.index.db.reader()
        self._settings = settings
        self._witness_keys = witness_keys
        self._rounds = 0
        self.state = FeedState(self.index.status())

    def round(self) -> FeedState:
        """Read what is new; a log that cannot be read leaves the index as it was, saying why."""
        settings = self._settings
        try:
            done = refresh_index(settings, self.index)
        except IntelshareError as exc:
            return self.state._replace(problem=f"cannot read the disclosure log: {exc}")
        self._rounds += 1
        status = self.index.status()
        if done.problem is not None:  # the log no longer holds what was indexed
            status = status._replace(sound=False, detail=done.problem)
        state = FeedState(status, done.problem, self._rounds)
        state = state._replace(broken_record=self.index.broken_record)
        if self._witness_keys:
            state = state._replace(
                witnesses=witness_views(cosignatures(settings), self._witness_keys)
            )
        try:
            return state._replace(agreements=published_agreements(settings))
        except (NotAuthorisedError, TopicMissingError) as exc:
            topic = Topics(settings.topic_prefix).agreements
            problem = f"{topic} could not be read with this broker user ({exc})"
            return state._replace(agreements_problem=problem)


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
    index: Path | None = None,
    commitments: Callable[[str], str | None] | None = None,
) -> web.Application:
    """The oversight page's application over the index of the log of ``settings``' broker and
    prefix (``index``, default :func:`streams.kafka.auditindex.open_index`'s), kept fresh from
    the log; ``linker`` (the oversight link key) lets a subject filter find pseudonymised
    disclosures, and ``commitments`` (an oversight link to the subject's commitment, from
    ``intel.keys.commitments``) the disclosures recorded since subjects have data keys. It
    answers only requests whose Host is 127.0.0.1, localhost or one of
    ``hosts``."""
    feed = IndexFeed(settings, keys, index, witness_keys or {})
    cache = RefreshingValue(feed.round, feed.state, ttl)
    key_ids = tuple(keys.keys)

    async def listing(request: web.Request) -> tuple[FeedState, Listing]:
        try:
            wanted = parse_filter(request.query)
            if wanted.subject is not None and linker is not None:
                wanted = wanted._replace(subject_link=linker(wanted.subject))
        except ConfigError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n", headers=_HEADERS) from exc
        if wanted.subject_link is not None and commitments is not None:
            found = await asyncio.to_thread(commitments, wanted.subject_link)
            wanted = wanted._replace(subject_commitment=found)
        state = await cache.get()
        if state.rounds == 0 and state.problem is not None:
            raise web.HTTPServiceUnavailable(text=f"{state.problem}\n", headers=_HEADERS)
        order = request.query.get("order", "newest")
        sort = request.query.get("sort") or "time"
        return state, Listing(wanted, sort, order != "oldest", dict(request.query))

    def one_page(asked: Listing, after: str | None, limit: int) -> Page:
        try:
            return page_of(
                feed.reader, asked.wanted, sort=asked.sort, newest_first=asked.newest_first,
                after=after, limit=limit,
            )  # fmt: skip
        except ConfigError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n", headers=_HEADERS) from exc

    async def page(request: web.Request) -> web.Response:
        state, asked = await listing(request)
        found = one_page(asked, request.query.get("after"), _PAGE)
        locale = negotiate(request.query.get("lang"), request.headers.get("Accept-Language"))
        with use_locale(locale):
            body = render_index_page(
                feed.reader, state.status, asked, found,
                agreements=state.agreements, agreements_problem=state.agreements_problem,
                key_ids=key_ids, now=datetime.now(UTC), witnesses=state.witnesses,
                problem=state.problem, broken_record=state.broken_record,
            )  # fmt: skip
        headers = _HEADERS | {"Content-Language": locale, "Vary": "Accept-Language"}
        return web.Response(text=body, content_type="text/html", headers=headers)

    async def disclosures(request: web.Request) -> web.Response:
        state, asked = await listing(request)
        limit = _limit(request.query.get("limit"))
        found = one_page(asked, request.query.get("after"), limit)
        rows = rows_of(feed.reader, found, state.agreements, datetime.now(UTC))
        status = chain_status(state.status)
        broken = [state.broken_record] if state.broken_record else []
        hint = key_problem_hint(status, broken, state.status.checkpoint, key_ids)
        checked = state.status.checked_at
        return web.json_response(
            {
                "chain": {
                    "sound": status.sound,
                    "records": status.records,
                    "broken_at": status.broken_at,
                    "detail": status.detail,
                    "key_hint": hint or None,
                    "checked_at": format_time(checked) if checked else None,
                    "problem": state.problem,
                },
                "count": count(feed.reader, asked.wanted),
                "disclosures": rows,
                "next": found.next,
            },
            headers=_HEADERS,
        )

    async def download(request: web.Request) -> web.StreamResponse:
        _, asked = await listing(request)
        kind = request.match_info["kind"]
        csv = kind == "csv"
        response = web.StreamResponse(
            headers=_HEADERS | {
                "Content-Type": "text/csv; charset=utf-8" if csv else "application/x-ndjson",
                "Content-Disposition": f"attachment; filename=disclosures.{kind}",
            }
        )  # fmt: skip
        await response.prepare(request)
        after: str | None = None
        header = True
        while True:
            found = one_page(asked._replace(newest_first=False), after, 1000)
            rows = [export_row(r) for r in found.records]
            if csv:
                text = to_csv(rows)
                text = text if header else text.partition("\n")[2]
            else:
                text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            header = False
            await response.write(text.encode())
            if found.next is None:
                break
            after = found.next
        await response.write_eof()
        return response

    app = web.Application(middlewares=[host_guard(LOCAL_HOSTS + tuple(hosts)), _database_down])
    app.router.add_get("/", page)
    app.router.add_get("/api/disclosures", disclosures)
    app.router.add_get("/download.{kind:csv|jsonl}", download)
    return app


@web.middleware
async def _database_down(request: web.Request, handler: Any) -> web.StreamResponse:
    """503 saying why when the index's database cannot be read (PostgreSQL down)."""
    try:
        response: web.StreamResponse = await handler(request)
    except OversightDatabaseError as exc:
        raise web.HTTPServiceUnavailable(text=f"{exc}\n", headers=_HEADERS) from exc
    return response


def _limit(text: str | None) -> int:
    try:
        limit = int(text) if text else _PAGE
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_PAGE:
        raise web.HTTPBadRequest(
            text=f"limit: a whole number from 1 to {_MAX_PAGE}\n", headers=_HEADERS
        )
    return limit
