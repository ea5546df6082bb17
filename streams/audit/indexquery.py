"""Queries of the oversight index (:mod:`streams.audit.index`): the filters of ``audit query``
and the page, keyset pages (a cursor names the last row shown, so a page costs the same at
the start and at the end of a million records), counts, chart points and downloads. Pure:
SQL over the index's database (:class:`streams.audit.indexdb.IndexDb`: SQLite or PostgreSQL,
the same queries), nothing of Kafka.

Sorting ``time`` is log order: sequence numbers follow the time each disclosure was recorded.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from streams.audit.indexdb import IndexDb
from streams.audit.indexschema import ms
from streams.audit.records import AuditFilter, import_row, stats_figures
from streams.errors import ConfigError
from streams.i18n import msg

__all__ = [
    "SORTS",
    "Page",
    "chart_points",
    "choices",
    "count",
    "counts",
    "cursor_after",
    "matching",
    "page",
    "received",
    "span",
    "stats",
]

SORTS = {"time": "seq", "recipient": "recipient", "agreement": "agreement_id", "event": "event_id"}
"""The orders a page may be sorted in, and their column; each breaks ties by sequence."""
_DAY_S = 86_400


class Page(NamedTuple):
    """One page of matching records."""

    records: list[dict[str, Any]]
    """The decoded audit records, in the order asked for."""
    next: str | None
    """The cursor of the next page, or None on the last."""


def _where(db: IndexDb, wanted: AuditFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if wanted.kind is not None:  # records before audit record v4 are disclosures
        clauses.append(f"COALESCE({db.json_field('row', 'kind')}, 'disclosure') = ?")
        params.append(wanted.kind)
    for column, value in (
        ("recipient", wanted.recipient), ("agreement_id", wanted.agreement),
        ("event_id", wanted.event),
    ):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    _window(wanted, "disclosed_at", clauses, params)
    if wanted.subject is not None:
        clauses.append(
            "seq IN (SELECT seq FROM subjects WHERE (subject = ? AND link = 0) "
            "OR (subject = ? AND link = 1) OR (subject = ? AND link = 1))"
        )
        params += [wanted.subject, wanted.subject_link, wanted.subject_commitment]
    return " AND ".join(clauses) or "TRUE", params


def _window(wanted: AuditFilter, column: str, clauses: list[str], params: list[Any]) -> None:
    """``wanted``'s since (inclusive) and until (exclusive) as clauses on the time ``column``."""
    for value, op in ((wanted.since, ">="), (wanted.until, "<")):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(ms(value))


def cursor_after(value: Any, seq: int) -> str:
    """The cursor of the page that follows the row of sequence ``seq`` whose sort column
    holds ``value`` (what a page gives as its ``next``)."""
    return base64.urlsafe_b64encode(json.dumps([value, seq]).encode()).decode()


def _uncursor(text: str) -> tuple[Any, int]:
    try:
        value, seq = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ConfigError(
            msg("after: not a cursor this page gave; start from the first page")
        ) from exc
    if not isinstance(seq, int) or not isinstance(value, str | int):
        raise ConfigError(msg("after: not a cursor this page gave; start from the first page"))
    return value, seq


def page(
    db: IndexDb,
    wanted: AuditFilter,
    *,
    sort: str = "time",
    newest_first: bool = True,
    after: str | None = None,
    limit: int = 100,
) -> Page:
    """The ``limit`` records after the cursor ``after`` (from the first when None) that meet
    ``wanted``, in ``sort`` order (descending when ``newest_first``); ConfigError for an
    unknown sort or a cursor this function did not make."""
    column = SORTS.get(sort)
    if column is None:
        raise ConfigError(
            msg("sort: {sort!r} is not one of {sorts}", sort=sort, sorts=", ".join(SORTS))
        )
    where, params = _where(db, wanted)
    way, op = ("DESC", "<") if newest_first else ("ASC", ">")
    if after is not None:
        value, seq = _uncursor(after)
        if column == "seq":
            where += f" AND seq {op} ?"
            params.append(seq)
        else:
            where += f" AND ({column}, seq) {op} (?, ?)"
            params += [value, seq]
    order = "seq" if column == "seq" else f"{column} {way}, seq"
    # the keys first, from an index alone; then the rows of this page only
    sql = (
        f"SELECT seq, {column} FROM records WHERE {where} "  # noqa: S608  # columns are ours
        f"ORDER BY {order} {way} LIMIT ?"
    )
    keys = db.execute(sql, [*params, limit + 1]).fetchall()
    more = len(keys) > limit
    keys = keys[:limit]
    marks = ",".join("?" * len(keys))
    sql = f"SELECT seq, row FROM records WHERE seq IN ({marks})"  # noqa: S608
    stored = dict(db.execute(sql, [k for k, _ in keys])) if keys else {}
    records = [import_row(json.loads(stored[seq]), "index row") for seq, _ in keys]
    following = cursor_after(keys[-1][1], keys[-1][0]) if more and keys else None
    return Page(records, following)


def matching(
    db: IndexDb, wanted: AuditFilter, sort: str = "time", newest_first: bool = False
) -> Iterator[dict[str, Any]]:
    """Every record that meets ``wanted``, a page at a time (for downloads)."""
    after: str | None = None
    while True:
        found = page(db, wanted, sort=sort, newest_first=newest_first, after=after, limit=1000)
        yield from found.records
        if found.next is None:
            return
        after = found.next


def count(db: IndexDb, wanted: AuditFilter) -> int:
    """How many records meet ``wanted``."""
    if wanted == AuditFilter():
        row = db.execute("SELECT value FROM meta WHERE key = 'count'").fetchone()
        return int(row[0]) if row else 0
    where, params = _where(db, wanted)
    return int(db.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[0])  # noqa: S608


def _by_day(wanted: AuditFilter) -> bool:
    """Whether the per-day totals answer for ``wanted`` (no subject or event filter, times
    on whole days)."""
    whole = all(t is None or int(t.timestamp()) % _DAY_S == 0 for t in (wanted.since, wanted.until))
    plain = wanted.kind in (None, "disclosure")  # the per-day totals count disclosures
    return wanted.subject is None and wanted.event is None and whole and plain


def _day_clauses(wanted: AuditFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if wanted.recipient is not None:
        clauses.append("recipient = ?")
        params.append(wanted.recipient)
    if wanted.agreement is not None:
        clauses.append("agreement >= ? AND agreement < ?")  # "ID v1", "ID v2", ...
        params += [wanted.agreement + " v", wanted.agreement + " w"]
    _window(wanted, "day", clauses, params)
    return " AND ".join(clauses), params


def span(db: IndexDb, wanted: AuditFilter) -> tuple[datetime, datetime] | None:
    """The first and last time of the records that meet ``wanted`` (to the day when the
    per-day totals answer), or None when none does."""
    if _by_day(wanted):
        where, params = _day_clauses(wanted)
        sql = f"SELECT min(day), max(day) + {_DAY_S * 1000 - 1} FROM daily WHERE {where}"  # noqa: S608
    else:
        where, params = _where(db, wanted)
        sql = f"SELECT min(disclosed_at), max(disclosed_at) FROM records WHERE {where}"  # noqa: S608
    first, last = db.execute(sql, params).fetchone()
    if first is None:
        return None
    return datetime.fromtimestamp(first / 1000, UTC), datetime.fromtimestamp(last / 1000, UTC)


def chart_points(
    db: IndexDb, wanted: AuditFilter, by: str, size: int = _DAY_S
) -> tuple[list[tuple[datetime, str]], list[int]]:
    """(bar start, series) points and their counts for a chart, bars of ``size`` seconds, of
    the records that meet ``wanted``, per ``by`` (``recipient``, or ``agreement``: ``ID
    vN``): from the per-day totals of the index where they answer (bars of a day or more),
    else from the records. Records with no recipient, or made under no agreement (a report's
    collection, an erasure told to no one ...), are in no series of that kind."""
    bar = size * 1000
    if _by_day(wanted) and size % _DAY_S == 0:
        where, params = _day_clauses(wanted)
        column = "recipient" if by == "recipient" else "agreement"
        sql = (
            f"SELECT day / {bar} * {bar} AS start, {column}, sum(n) FROM daily "  # noqa: S608
            f"WHERE {where} GROUP BY start, {column}"
        )
    else:
        where, params = _where(db, wanted)
        named = "recipient" if by == "recipient" else "agreement_id"
        where += f" AND {named} <> ''"
        series = "recipient" if by == "recipient" else "agreement_id || ' v' || agreement_version"
        sql = (
            f"SELECT disclosed_at / {bar} * {bar} AS start, {series} AS series, count(*) "  # noqa: S608
            f"FROM records WHERE {where} GROUP BY start, series"
        )
    rows = db.execute(sql, params).fetchall()
    points = [(datetime.fromtimestamp(t / 1000, UTC), str(s)) for t, s, _ in rows]
    return points, [int(n) for _, _, n in rows]


def counts(db: IndexDb, wanted: AuditFilter, by: str) -> Counter[str]:
    """Records that meet ``wanted`` per recipient or per agreement version."""
    totals: Counter[str] = Counter()
    for (_, series), n in zip(*chart_points(db, wanted, by), strict=True):
        totals[series] += n
    return totals


def choices(db: IndexDb) -> tuple[list[str], list[str]]:
    """The recipients and the agreement ids in the log, for the page's form."""
    agreements = {
        a.rsplit(" v", 1)[0] for (a,) in db.execute("SELECT DISTINCT agreement FROM daily")
    }
    recipients = [r for (r,) in db.execute("SELECT DISTINCT recipient FROM daily ORDER BY 1")]
    return recipients, sorted(agreements)


def received(db: IndexDb, ids: list[str]) -> dict[str, datetime]:
    """When each of ``ids`` was first opened, from the verified receipts."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    sql = f"SELECT disclosure_id, received_at FROM receipts WHERE disclosure_id IN ({marks})"  # noqa: S608
    return {i: datetime.fromtimestamp(t / 1000, UTC) for i, t in db.execute(sql, ids)}


def stats(db: IndexDb) -> dict[str, Any]:
    """Records per kind, disclosures in all, per recipient, per agreement and per day (UTC),
    feedback per recipient: as :func:`streams.audit.records.stats`, the disclosures from the
    per-day totals, the kinds from the records (a row without a kind predates audit record
    v4: a disclosure)."""
    recipients, agreements, days = Counter[str](), Counter[str](), Counter[str]()
    for day, recipient, agreement, n in db.execute("SELECT * FROM daily"):
        recipients[recipient] += n
        agreements[agreement] += n
        days[datetime.fromtimestamp(day / 1000, UTC).date().isoformat()] += n
    kinds = Counter[str]()
    kind = db.json_field("row", "kind")
    sql = f"SELECT COALESCE({kind}, 'disclosure'), COUNT(*) FROM records GROUP BY 1"  # noqa: S608
    for name, n in db.execute(sql):
        kinds[name] += n
    feedback: dict[str, Counter[str]] = {}
    sql = f"SELECT recipient, row FROM records WHERE {kind} = 'feedback'"  # noqa: S608
    for recipient, row in db.execute(sql):
        useful = json.loads(row).get("useful")
        feedback.setdefault(recipient, Counter())["useful" if useful else "not useful"] += 1
    total = sum(recipients.values())
    return stats_figures(total, kinds, recipients, agreements, days, feedback)
