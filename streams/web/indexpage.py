"""The oversight page over the index (:mod:`streams.audit.index`): one page of the disclosures
that meet the filters (keyset pagination, sorted by time, recipient, agreement or event),
counts and charts from the index's totals, the verified length and the time of the last
check, and links to download the current filter as CSV or JSON lines. The markup is that of
:mod:`streams.web.page` (same element ids), so the page reads as before, a page at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

from streams.audit.chain import RECORD_KINDS
from streams.audit.index import IndexStatus
from streams.audit.indexdb import IndexDb
from streams.audit.indexquery import SORTS, Page, chart_points, choices, count, received, span
from streams.audit.records import AuditFilter
from streams.audit.verify import ChainStatus
from streams.audit.witness import WitnessView
from streams.core.policy import Agreement
from streams.core.times import format_time
from streams.i18n import N_, _, ngettext
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


_SORTS = {
    "time": N_("time"),
    "recipient": N_("recipient"),
    "agreement": N_("agreement"),
    "event": N_("event"),
}


def chain_status(status: IndexStatus) -> ChainStatus:
    """The index's verification in the form the page and the API show."""
    unknown = "unknown key" in status.detail
    return ChainStatus(status.sound, status.verified, status.broken_at, status.detail, unknown)


def rows_of(
    db: IndexDb,
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
    for (_moment, series), n in zip(points, weights, strict=True):
        totals[series] += n
    return totals


def _form(db: IndexDb, listing: Listing) -> str:
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
        + html_page.options_html("kind", RECORD_KINDS, wanted.kind)
        + _without_any(html_page.options_html("sort", SORTS, listing.sort))
        + _without_any(html_page.options_html("order", ("newest", "oldest"), order))
        + html_page.filter_buttons()
    )


def _without_any(select: str) -> str:
    anything = html_page.esc(_("any"))
    return select.replace(f'<option value="">{anything}</option>', "")


def _links(query: Mapping[str, str], following: str | None) -> str:
    kept = {k: v for k, v in query.items() if k != "after" and v}
    esc = html_page.esc
    # translated outside the f-strings: pybabel does not extract a call inside one
    first_page, next_page, last_page = _("first page"), _("next page"), _("last page")
    first = f'<a id="first" href="/?{esc(urlencode(kept))}">{esc(first_page)}</a>'
    more = (
        f' <a id="next" href="/?{esc(urlencode(kept | {"after": following}))}">{esc(next_page)}</a>'
        if following
        else f' <span id="last">{esc(last_page)}</span>'
    )
    json_lines = _("JSON lines")
    filtered = esc(urlencode({k: v for k, v in kept.items() if k not in ("order", "lang")}))
    api = esc(urlencode({k: v for k, v in kept.items() if k != "lang"}))
    download = _(
        "Download the disclosures matching the filters: {csv}, {jsonl} (the whole records); "
        "JSON: {api} (same filters, a page at a time)",
        csv=f'<a id="csv" href="/download.csv?{filtered}">CSV</a>',
        jsonl=f'<a id="jsonl" href="/download.jsonl?{filtered}">{esc(json_lines)}</a>',
        api=f'<a href="/api/disclosures?{api}">/api/disclosures</a>',
    )
    return f"<p>{first}{more}</p><p>{download}</p>"


def _checked(status: IndexStatus, problem: str | None) -> str:
    when = (
        html_page.time_html(status.checked_at) if status.checked_at else html_page.esc(_("not yet"))
    )
    note = f'<p class="hint" id="index-problem">{html_page.esc(problem)}</p>' if problem else ""
    text = ngettext(
        "Verified: {count} record, each once as it was read; last check {time}",
        "Verified: {count} records, each once as it was read; last check {time}",
        status.verified,
        count=f'<span id="verified">{html_page.number(status.verified)}</span>',
        time=f'<span id="checked-at">{when}</span>',
    )
    return f"<p>{text}</p>{note}"


def render_index_page(
    db: IndexDb,
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
    by_recipient = chart_svg(_("disclosures per recipient over time"), *recipient_points, size)
    by_agreement = chart_svg(_("disclosures per agreement over time"), *agreement_points, size)
    hint = html_page.key_problem_hint(
        chain, [broken_record] if broken_record else [], status.checkpoint, key_ids
    )
    sort = html_page.esc(_(_SORTS.get(listing.sort, listing.sort)))
    shown = f'<span id="shown">{html_page.number(len(rows))}</span>'
    if listing.newest_first:
        heading = _("Disclosures shown, by {sort}, newest first: {shown}", sort=sort, shown=shown)
    else:
        heading = _("Disclosures shown, by {sort}, oldest first: {shown}", sort=sort, shown=shown)
    return (
        html_page.page_head() + f"{html_page.status_html(chain, status.checkpoint, hint)}"
        f"{_checked(status, problem)}"
        f"{html_page.witnesses_html(witnesses)}"
        f"{_form(db, listing)}"
        f"<h2>{html_page.matching_html(count(db, wanted), status.verified)}</h2>"
        + html_page.charts_html(by_recipient, per_recipient, by_agreement, per_agreement, states)
        + f"<h2>{heading}</h2>"
        f"{html_page.agreements_note(agreements, agreements_problem)}"
        f"{html_page.disclosure_table(rows)}"
        f"{_links(listing.query, found.next)}"
        "</body></html>"
    )
