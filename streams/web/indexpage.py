"""The oversight page over the index (:mod:`streams.audit.index`): one page of the disclosures
that meet the filters (keyset pagination, sorted by time, recipient, agreement or event),
counts and charts from the index's totals, the verified length and the time of the last
check, and links to download the current filter as CSV or JSON lines. The markup is that of
:mod:`streams.web.page` (same element ids), so the page reads as before, a page at a time.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

from streams.audit.index import IndexStatus
from streams.audit.indexquery import SORTS, Page, chart_points, choices, count, received, span
from streams.audit.records import AuditFilter
from streams.audit.verify import ChainStatus
from streams.audit.witness import WitnessView
from streams.core.policy import Agreement
from streams.core.times import format_time
from streams.web import page as html_page
from streams.web.chart import bucket_size, chart_svg

__all__ = ["Listing", "chain_status", "render_index_page", "rows_of"]


class Listing(NamedTuple):
    """What the page was asked to list."""

    wanted: AuditFilter
    """The filters."""
    sort: str
    """One of :data:`streams.audit.indexquery.SORTS`."""
    newest_first: bool
    """Descending order."""
    query: Mapping[str, str]
    """The request's query string, for the links to the next page and the downloads."""


def chain_status(status: IndexStatus) -> ChainStatus:
    """The index's verification in the form the page and the API show."""
    unknown = "unknown key" in status.detail
    return ChainStatus(status.sound, status.verified, status.broken_at, status.detail, unknown)


def rows_of(
    db: sqlite3.Connection,
    found: Page,
    agreements: Mapping[str, Agreement] | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The page's records as the table and the API show them."""
    opened = received(db, [r["disclosure_id"] for r in found.records])
    return [
        html_page.disclosure_row(
            r,
            opened,
            html_page.agreement_status(r["agreement_id"], r["agreement_version"], agreements, now),
        )
        for r in found.records
    ]


def _totals(points: Sequence[tuple[datetime, str]], weights: Sequence[int]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for (_, series), n in zip(points, weights, strict=True):
        totals[series] += n
    return totals


def _form(db: sqlite3.Connection, listing: Listing) -> str:
    wanted = listing.wanted
    recipients, agreement_ids = choices(db)
    since = format_time(wanted.since) if wanted.since else None
    until = format_time(wanted.until) if wanted.until else None
    example = "2026-11-01T00:00:00Z"
    order = "newest" if listing.newest_first else "oldest"
    return (
        '<form method="get" action="/" id="filters">'
        + html_page.options_html("recipient", recipients, wanted.recipient)
        + html_page.options_html("agreement", agreement_ids, wanted.agreement)
        + html_page.text_input_html("subject", wanted.subject)
        + html_page.text_input_html("event", wanted.event)
        + html_page.text_input_html("since", since, example)
        + html_page.text_input_html("until", until, example)
        + html_page.options_html("sort", SORTS, listing.sort).replace(
            '<option value="">any</option>', ""
        )
        + html_page.options_html("order", ("newest", "oldest"), order).replace(
            '<option value="">any</option>', ""
        )
        + '<button type="submit" id="apply">filter</button> <a href="/">clear</a></form>'
    )


def _links(query: Mapping[str, str], following: str | None) -> str:
    kept = {k: v for k, v in query.items() if k != "after" and v}
    first = f'<a id="first" href="/?{html_page.esc(urlencode(kept))}">first page</a>'
    more = (
        f' <a id="next" href="/?{html_page.esc(urlencode(kept | {"after": following}))}">'
        "next page</a>"
        if following
        else ' <span id="last">last page</span>'
    )
    filtered = html_page.esc(urlencode({k: v for k, v in kept.items() if k not in ("order",)}))
    return (
        f"<p>{first}{more}</p>"
        f'<p>Download the disclosures matching the filters: <a id="csv" '
        f'href="/download.csv?{filtered}">CSV</a>, <a id="jsonl" '
        f'href="/download.jsonl?{filtered}">JSON lines</a> (the whole records); JSON: '
        f'<a href="/api/disclosures?{html_page.esc(urlencode(kept))}">/api/disclosures</a> '
        "(same filters, a page at a time)</p>"
    )


def _checked(status: IndexStatus, problem: str | None) -> str:
    when = format_time(status.checked_at) if status.checked_at else "not yet"
    note = f'<p class="hint" id="index-problem">{html_page.esc(problem)}</p>' if problem else ""
    return (
        f'<p>Verified: <span id="verified">{status.verified}</span> records, each once as it '
        f'was read; last check <span id="checked-at">{html_page.esc(when)}</span></p>{note}'
    )


def render_index_page(
    db: sqlite3.Connection,
    status: IndexStatus,
    listing: Listing,
    found: Page,
    *,
    agreements: Mapping[str, Agreement] | None,
    agreements_problem: str | None = None,
    key_ids: Collection[str] = (),
    now: datetime,
    witnesses: Sequence[WitnessView] | None = None,
    problem: str | None = None,
    broken_record: Mapping[str, Any] | None = None,
) -> str:
    """The page: the chain's status and verified length, the filters, counts and charts of
    what meets them (from the index's totals), then one page of the table."""
    wanted = listing.wanted
    chain = chain_status(status)
    rows = rows_of(db, found, agreements, now)
    first_last = span(db, wanted)
    size = bucket_size(*first_last) if first_last else 86_400
    recipient_points = chart_points(db, wanted, "recipient", size)
    agreement_points = chart_points(db, wanted, "agreement", size)
    per_recipient, per_agreement = _totals(*recipient_points), _totals(*agreement_points)
    states = {
        version: html_page.agreement_status(
            version.rsplit(" v", 1)[0], int(version.rsplit(" v", 1)[1]), agreements, now
        )
        for version in per_agreement
    }
    by_recipient = chart_svg("disclosures per recipient over time", *recipient_points, size)
    by_agreement = chart_svg("disclosures per agreement over time", *agreement_points, size)
    hint = html_page.key_problem_hint(
        chain, [broken_record] if broken_record else [], status.checkpoint, key_ids
    )
    order = "newest" if listing.newest_first else "oldest"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>intelshare oversight</title>"
        f"<style>{html_page.STYLE}</style></head><body>"
        "<h1>intelshare: disclosure log for oversight</h1>"
        f"{html_page.status_html(chain, status.checkpoint, hint)}"
        f"{_checked(status, problem)}"
        f"{html_page.witnesses_html(witnesses)}"
        f"{_form(db, listing)}"
        f'<h2>Disclosures matching the filters: <span id="total">{count(db, wanted)}</span> of '
        f'<span id="in-log">{status.verified}</span> in the log</h2>'
        '<div class="charts">'
        f"<div><h3>Per recipient</h3>{by_recipient}"
        f"{html_page.counts_table('per-recipient', 'recipient', per_recipient, None)}</div>"
        f"<div><h3>Per agreement</h3>{by_agreement}"
        f"{html_page.counts_table('per-agreement', 'agreement', per_agreement, states)}</div>"
        "</div>"
        f"<h2>Disclosures shown, by {html_page.esc(listing.sort)}, {order} first: "
        f'<span id="shown">{len(rows)}</span></h2>'
        f"{html_page.agreements_note(agreements, agreements_problem)}"
        f"{html_page.disclosure_table(rows)}"
        f"{_links(listing.query, found.next)}"
        "</body></html>"
    )
