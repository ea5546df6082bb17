"""A read-only TAXII 2.1 server at the agency, over its own verified and decrypted feed (aiohttp).

Endpoints (TAXII 2.1, OASIS Committee Specification 01): discovery ``/taxii2/``, one API root
``/intelshare/``, one collection (the agency's feed), its objects (``limit``, ``next``,
``more``, ``added_after``, ``match[id]``, ``match[type]``), one object, its versions and the
manifest. GET only: the collection cannot be written. Every request needs HTTP Basic
authentication as the agency, with the password of the file ``intelshare taxii serve``
created; like the oversight page it answers only to local Host names (DNS rebinding).

The feed is read again at most every ``ttl`` seconds, in a thread, without committing: the
agency's ``consume`` position is not moved.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from aiohttp import web

from streams.errors import BadRequestError, IntelshareError
from streams.web.app import LOCAL_HOSTS, host_guard
from streams.web.cache import TimedCache
from streams.web.collection import Entry, collection_entries, page, parse_query, taxii_time

__all__ = ["API_ROOT", "TAXII_MEDIA_TYPE", "FeedCache", "collection_id", "taxii_app"]

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "/intelshare/"
_NAMESPACE = uuid.UUID("0f6c2d52-2f3b-4d0e-9a57-31a7c1b8e1d4")
"""Namespace of collection ids; changing it changes every agency's collection id."""
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
_COMMAND = "intelshare taxii serve"


def collection_id(agency: str) -> str:
    """The id of the agency's feed collection: the same on every start."""
    return str(uuid.uuid5(_NAMESPACE, agency))


class FeedCache(TimedCache[list[Entry]]):
    """The collection's entries, read anew once they are ``ttl`` seconds old."""

    def __init__(
        self,
        read: Callable[[], list[dict[str, Any]]],
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(lambda: collection_entries(read()), ttl, clock)


def _error(status: type[web.HTTPException], title: str, **headers: str) -> web.HTTPException:
    body = json.dumps({"title": title, "http_status": str(status.status_code)})
    return status(text=body, content_type="application/taxii+json", headers={**_HEADERS, **headers})


def _respond(body: Mapping[str, Any], **headers: str) -> web.Response:
    headers = {**_HEADERS, **headers, "Content-Type": TAXII_MEDIA_TYPE}
    return web.Response(body=json.dumps(body, ensure_ascii=False).encode(), headers=headers)


def _basic_auth(user: str, password: str) -> Any:
    """A middleware that answers 401 unless the request carries ``user:password``."""
    wanted = f"{user}:{password}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        try:
            given = base64.b64decode(value, validate=True) if scheme.lower() == "basic" else b""
        except binascii.Error:
            given = b""
        if not hmac.compare_digest(given, wanted):
            raise _error(
                web.HTTPUnauthorized,
                "authentication required: HTTP Basic as the agency, with the password in the "
                "file `intelshare taxii serve` printed",
                **{"WWW-Authenticate": 'Basic realm="intelshare TAXII"'},
            )
        response: web.StreamResponse = await handler(request)
        return response

    return auth


def _accepts_taxii(request: web.Request) -> None:
    accept = request.headers.get("Accept", "")
    if accept and not any(
        kind in accept for kind in ("application/taxii+json", "*/*", "application/*")
    ):
        raise _error(web.HTTPNotAcceptable, f"this server answers in {TAXII_MEDIA_TYPE}")


class _Views(NamedTuple):
    agency: str
    cache: FeedCache

    def collection(self) -> dict[str, Any]:
        return {
            "id": collection_id(self.agency),
            "title": f"intelshare feed of {self.agency}",
            "description": "the disclosures made to this agency, verified and decrypted, as "
            "STIX 2.1 (one report per disclosure)",
            "can_read": True,
            "can_write": False,
            "media_types": [STIX_MEDIA_TYPE],
        }

    async def discovery(self, request: web.Request) -> web.Response:
        _accepts_taxii(request)
        return _respond(
            {
                "title": f"intelshare TAXII server of {self.agency}",
                "description": "read-only, over the agency's own feed",
                "default": API_ROOT,
                "api_roots": [API_ROOT],
            }
        )

    async def api_root(self, request: web.Request) -> web.Response:
        _accepts_taxii(request)
        return _respond(
            {
                "title": f"intelshare feed of {self.agency}",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": 0,
            }
        )

    async def collections(self, request: web.Request) -> web.Response:
        _accepts_taxii(request)
        return _respond({"collections": [self.collection()]})

    async def one_collection(self, request: web.Request) -> web.Response:
        self._check(request)
        return _respond(self.collection())

    async def objects(self, request: web.Request) -> web.Response:
        found = await self._page(request)
        body: dict[str, Any] = {"more": found.more, "objects": [e.obj for e in found.entries]}
        return self._paged(body, found)

    async def manifest(self, request: web.Request) -> web.Response:
        found = await self._page(request)
        body: dict[str, Any] = {
            "more": found.more,
            "objects": [
                {
                    "id": e.obj["id"],
                    "date_added": taxii_time(e.added),
                    "version": e.version,
                    "media_type": STIX_MEDIA_TYPE,
                }
                for e in found.entries
            ],
        }
        return self._paged(body, found)

    async def one_object(self, request: web.Request) -> web.Response:
        found = await self._page(request, only=request.match_info["object_id"])
        if not found.entries:
            raise _error(web.HTTPNotFound, "no such object in this collection")
        return self._paged({"more": found.more, "objects": [e.obj for e in found.entries]}, found)

    async def versions(self, request: web.Request) -> web.Response:
        found = await self._page(request, only=request.match_info["object_id"])
        if not found.entries:
            raise _error(web.HTTPNotFound, "no such object in this collection")
        body = {"more": found.more, "versions": [e.version for e in found.entries]}
        return self._paged(body, found)

    def _check(self, request: web.Request) -> None:
        _accepts_taxii(request)
        if request.match_info["collection_id"] != collection_id(self.agency):
            raise _error(web.HTTPNotFound, "no such collection: GET collections/ lists the one")

    async def _page(self, request: web.Request, only: str | None = None) -> Any:
        self._check(request)
        multi = {key: request.query.getall(key) for key in request.query}
        try:
            query = parse_query(request.query, multi)
        except BadRequestError as exc:
            raise _error(web.HTTPBadRequest, str(exc)) from exc
        if only is not None:
            query = query._replace(ids=frozenset({only}))
        try:
            entries = await self.cache.get()
        except IntelshareError as exc:
            raise _error(web.HTTPServiceUnavailable, f"cannot read the feed: {exc}") from exc
        return page(entries, query)

    @staticmethod
    def _paged(body: dict[str, Any], found: Any) -> web.Response:
        headers = {}
        if found.next is not None:
            body["next"] = found.next
        if found.entries:
            headers["X-TAXII-Date-Added-First"] = taxii_time(found.entries[0].added)
            headers["X-TAXII-Date-Added-Last"] = taxii_time(found.entries[-1].added)
        return _respond(body, **headers)


def taxii_app(
    cache: FeedCache, agency: str, password: str, hosts: Sequence[str] = ()
) -> web.Application:
    """The agency's TAXII 2.1 application over ``cache``; Basic authentication as ``agency``
    with ``password``; it answers only requests whose Host is local or one of ``hosts``."""
    views = _Views(agency, cache)
    guard = host_guard(LOCAL_HOSTS + tuple(hosts), _COMMAND)
    app = web.Application(middlewares=[guard, _basic_auth(agency, password)])
    collection = API_ROOT + "collections/{collection_id}/"
    app.router.add_get("/taxii2/", views.discovery)
    app.router.add_get(API_ROOT, views.api_root)
    app.router.add_get(API_ROOT + "collections/", views.collections)
    app.router.add_get(collection, views.one_collection)
    app.router.add_get(collection + "objects/", views.objects)
    app.router.add_get(collection + "manifest/", views.manifest)
    app.router.add_get(collection + "objects/{object_id}/", views.one_object)
    app.router.add_get(collection + "objects/{object_id}/versions/", views.versions)
    return app
