"""The TAXII 2.1 collection of an agency's feed, as data: its objects in the order they were
added, and one page of them for a Get Objects or Get Manifest request.

Pure: the input is the opened disclosures (as ``consume`` prints them); each becomes its STIX
bundle's objects (:mod:`streams.formats.stix`), added at the disclosure's ``disclosed_at``.
Objects shared by several bundles (the TLP markings, the extension definitions) are served
once, as first added. Pagination follows TAXII 2.1 section 3.4: ``limit``, then ``next``, an
opaque cursor naming the last object served, so objects added meanwhile neither shift nor
repeat a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from streams.core.times import parse_time
from streams.errors import BadRequestError
from streams.formats.stix import bundle_text
from streams.i18n import msg

__all__ = [
    "MAX_PAGE",
    "Entry",
    "Page",
    "Query",
    "collection_entries",
    "page",
    "parse_query",
    "taxii_time",
]

MAX_PAGE = 1000
"""Most objects in one page, whatever ``limit`` asks."""


class Entry(NamedTuple):
    """One object version of the collection."""

    added: datetime
    """TAXII's date_added: when the disclosure was made."""
    obj: dict[str, Any]
    """The STIX object."""

    @property
    def key(self) -> tuple[datetime, str, str]:
        """The order of the collection: date added, id, version."""
        return (self.added, self.obj["id"], self.version)

    @property
    def version(self) -> str:
        """``modified``, or ``created`` for objects that are never modified (markings)."""
        return str(self.obj.get("modified") or self.obj["created"])


class Query(NamedTuple):
    """The filters and paging of one request."""

    limit: int = 100
    """Most objects wanted."""
    after: tuple[datetime, str, str] | None = None
    """The ``next`` cursor: the key of the last object already served."""
    added_after: datetime | None = None
    """Only objects added after this time."""
    ids: frozenset[str] = frozenset()
    """``match[id]``: only these ids (empty: any)."""
    types: frozenset[str] = frozenset()
    """``match[type]``: only these types (empty: any)."""


class Page(NamedTuple):
    """One response's objects."""

    entries: list[Entry]
    """The objects of this page, in collection order."""
    more: bool
    """Whether objects remain after this page."""
    next: str | None
    """The cursor to ask for the next page with, when ``more``."""


def taxii_time(moment: datetime) -> str:
    """A TAXII timestamp: UTC, with milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def collection_entries(disclosures: Iterable[Mapping[str, Any]]) -> list[Entry]:
    """Every object version of the disclosures' bundles, once each, in collection order."""
    seen: dict[tuple[str, str], Entry] = {}
    for disclosure in disclosures:
        _, added = parse_time(disclosure["disclosed_at"])
        assert added is not None  # the exchange's own time
        for obj in json.loads(bundle_text(disclosure))["objects"]:
            entry = Entry(added, obj)
            known = seen.get((obj["id"], entry.version))
            if known is None or entry.added < known.added:
                seen[(obj["id"], entry.version)] = entry
    return sorted(seen.values(), key=lambda e: e.key)


def page(entries: Sequence[Entry], query: Query) -> Page:
    """The entries ``query`` asks for, at most ``query.limit`` of them."""
    chosen = [e for e in entries if _wanted(e, query)]
    found = chosen[: query.limit]
    more = len(chosen) > len(found)
    return Page(found, more, _cursor(found[-1].key) if more and found else None)


def _wanted(entry: Entry, query: Query) -> bool:
    return (
        (query.after is None or entry.key > query.after)
        and (query.added_after is None or entry.added > query.added_after)
        and (not query.ids or entry.obj["id"] in query.ids)
        and (not query.types or entry.obj["type"] in query.types)
    )


def _cursor(key: tuple[datetime, str, str]) -> str:
    text = f"{taxii_time(key[0])}|{key[1]}|{key[2]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _uncursor(token: str) -> tuple[datetime, str, str]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        added, ident, version = text.split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequestError(
            msg("next is not a cursor this server gave; ask again without it")
        ) from None
    return (_time("next", added), ident, version)


def _time(name: str, value: str) -> datetime:
    problem, moment = parse_time(value)
    if problem is not None or moment is None:
        raise BadRequestError(
            f"{name} {problem or 'is not a time'}: give e.g. 2026-11-20T14:05:00Z"
        )
    return moment


def parse_query(params: Mapping[str, str], multi: Mapping[str, list[str]]) -> Query:
    """The :class:`Query` of request parameters (``multi``: each name's every value)."""
    limit = params.get("limit", "100")
    if not limit.isdigit() or int(limit) < 1:
        raise BadRequestError(
            msg("limit must be a positive whole number, not {limit!r}", limit=limit[:20])
        )
    added_after = params.get("added_after")
    token = params.get("next")
    return Query(
        limit=min(int(limit), MAX_PAGE),
        after=_uncursor(token) if token else None,
        added_after=_time("added_after", added_after) if added_after else None,
        ids=frozenset(v for value in multi.get("match[id]", []) for v in value.split(",")),
        types=frozenset(v for value in multi.get("match[type]", []) for v in value.split(",")),
    )
