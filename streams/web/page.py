"""The oversight page, pure: chain status, a chart of disclosures over time, the filtered table.

Records come in as decoded audit records (streams.kafka.auditlog reads them); out comes HTML
with the chart as inline SVG, so the page needs nothing from the network and no script. Every value
from the log is escaped. The audit log holds no narrative or payload, and neither does the page.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from streams.audit.records import AuditFilter, matches
from streams.audit.verify import ChainStatus, key_hint
from streams.core.times import format_time

__all__ = [
    "chart_svg",
    "disclosure_row",
    "render_page",
]

NOT_RECEIVED = "—"
"""What the "received" column shows for a disclosure with no verified receipt."""

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
_MAX_BARS = 30


def disclosure_row(
    record: Mapping[str, Any], received: Mapping[str, datetime] | None = None
) -> dict[str, Any]:
    """One disclosure as the table and the JSON API show it: who, when, why, and when the
    recipient opened it (from its verified receipt); never the payload."""
    opened = (received or {}).get(record["disclosure_id"])
    return {
        "sequence": record["sequence"],
        "disclosed_at": format_time(record["disclosed_at"]),
        "disclosure_id": record["disclosure_id"],
        "event_id": record["event_id"],
        "recipient": record["recipient"],
        "agreement_id": record["agreement_id"],
        "agreement_version": record["agreement_version"],
        "legal_basis": record["legal_basis"],
        "purpose": record["purpose"],
        "fields_disclosed": list(record["fields_disclosed"]),
        "subjects": list(record["subjects"]),
        "received": format_time(opened) if opened else None,
    }


def _bucket_size(first: datetime, last: datetime) -> int:
    span = (last - first).total_seconds()
    return next((size for size in _BUCKETS if span / size < _MAX_BARS), _BUCKETS[-1])


def _interval(size: int) -> str:
    if size >= 86400:
        return f"{size // 86400} d"
    return f"{size // 3600} h" if size >= 3600 else f"{size // 60} min"


def _bucket_label(start: datetime, size: int) -> str:
    if size >= 86400:
        return start.strftime("%Y-%m-%d")
    return start.strftime("%m-%d %H:%M")


def chart_svg(title: str, points: Sequence[tuple[datetime, str]]) -> str:
    """A stacked bar chart (inline SVG) of how many disclosures each series had per interval.

    ``points`` are (time, series) pairs, e.g. (disclosed_at, recipient); the interval is
    chosen so the whole span fits in at most 30 bars.
    """
    label = html.escape(title)
    if not points:
        return f'<svg role="img" aria-label="{label}" width="640" height="40"></svg>'
    times = [moment.astimezone(UTC) for moment, _ in points]
    size = _bucket_size(min(times), max(times))
    counts: dict[int, Counter[str]] = {}
    for moment, (_, series) in zip(times, points, strict=True):
        start = int(moment.timestamp()) // size * size
        counts.setdefault(start, Counter())[series] += 1
    names = sorted({series for _, series in points})
    colour = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}
    starts = list(range(min(counts), max(counts) + 1, size))
    tallest = max(sum(c.values()) for c in counts.values())
    width, height, left, top, bottom = 640, 220, 40, 10, 40
    plot_h = height - top - bottom
    bar_w = min((width - left - 10) / len(starts), 48.0)
    parts = [
        f'<svg role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height + 10 + 20 * len(names)}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#444"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11">{tallest}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for index, start in enumerate(starts):
        x = left + index * bar_w
        y = float(top + plot_h)
        moment = datetime.fromtimestamp(start, UTC)
        for name in names:
            count = counts.get(start, Counter())[name]
            if not count:
                continue
            bar_h = plot_h * count / tallest
            y -= bar_h
            tip = html.escape(f"{name}: {count} from {format_time(moment)}")
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                f'height="{bar_h:.1f}" fill="{colour[name]}"><title>{tip}</title></rect>'
            )
        if index == 0 or index == len(starts) - 1 or len(starts) <= 8:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'font-size="10">{html.escape(_bucket_label(moment, size))}</text>'
            )
    parts.append(
        f'<text x="{left}" y="{top + plot_h + 30}" font-size="10">'
        f"bars of {_interval(size)}, UTC</text>"
    )
    totals = Counter(series for _, series in points)
    for index, name in enumerate(names):
        y = height + 14 + 20 * index
        parts.append(
            f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{colour[name]}"/>'
            f'<text x="{left + 18}" y="{y}" font-size="12">'
            f"{html.escape(name)}: {totals[name]}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem}
th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}.sound{color:#176c17;font-weight:bold}.broken{color:#b00;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:2rem}form label{margin-right:.8rem}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _status_html(status: ChainStatus, checkpoint: Mapping[str, Any] | None) -> str:
    if status.sound:
        chain = f'<span class="sound" id="chain">verified</span>: {status.records} records, '
    else:
        where = f"at sequence {status.broken_at}" if status.broken_at is not None else ""
        chain = f'<span class="broken" id="chain">BROKEN {_e(where)}</span>: '
    chain += _e(status.detail)
    hint = key_hint(status)
    if hint:
        chain += f' <span class="hint" id="key-hint">({_e(hint)})</span>'
    if checkpoint is None:
        signed = "no signed checkpoint yet"
    else:
        signed = (
            f"{_e(checkpoint['tree_size'])} records, signed at "
            f"{_e(format_time(checkpoint['created_at']))}"
        )
    return (
        f"<p>Chain: {chain}</p>"
        f'<p>Last checkpoint: <span id="checkpoint">{signed}</span></p>'
        "<p>Reconciliation with the feeds: <code>intelshare audit verify</code>.</p>"
    )


def _options(name: str, values: Sequence[str], chosen: str | None) -> str:
    items = ['<option value="">any</option>'] + [
        f'<option value="{_e(v)}"{" selected" if v == chosen else ""}>{_e(v)}</option>'
        for v in values
    ]
    return f'<label>{name} <select name="{name}" id="f-{name}">{"".join(items)}</select></label>'


def _text_input(name: str, value: str | None) -> str:
    return (
        f'<label>{name} <input name="{name}" id="f-{name}" value="{_e(value or "")}" '
        'size="20"></label>'
    )


def _counts_table(ident: str, title: str, counts: Mapping[str, int]) -> str:
    rows = "".join(
        f'<tr><td class="key">{_e(k)}</td><td class="count">{v}</td></tr>'
        for k, v in sorted(counts.items())
    )
    return f'<table id="{ident}"><tr><th>{title}</th><th>disclosures</th></tr>{rows}</table>'


def _disclosure_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "sequence", "time", "recipient", "agreement", "legal basis", "purpose",
            "fields disclosed", "received",
        )
    )  # fmt: skip
    body = "".join(
        '<tr class="disclosure">'
        f"<td>{row['sequence']}</td><td>{_e(row['disclosed_at'])}</td>"
        f'<td class="recipient">{_e(row["recipient"])}</td>'
        f'<td class="agreement">{_e(row["agreement_id"])} v{_e(row["agreement_version"])}</td>'
        f"<td>{_e(row['legal_basis'])}</td><td>{_e(row['purpose'])}</td>"
        f"<td>{_e(', '.join(row['fields_disclosed']))}</td>"
        f"<td>{_e(row['received'] or NOT_RECEIVED)}</td></tr>"
        for row in rows
    )
    return f'<table id="disclosures"><tr>{head}</tr>{body}</table>'


def render_page(
    records: Sequence[Mapping[str, Any]],
    checkpoint: Mapping[str, Any] | None,
    status: ChainStatus,
    wanted: AuditFilter,
    received: Mapping[str, datetime] | None = None,
) -> str:
    """The whole oversight page: status, charts of every disclosure, the filtered table."""
    chosen = [r for r in records if matches(r, wanted)]
    rows = [disclosure_row(r, received) for r in chosen]
    recipients = Counter(r["recipient"] for r in records)
    agreements = Counter(f"{r['agreement_id']} v{r['agreement_version']}" for r in records)
    by_recipient = chart_svg(
        "disclosures per recipient over time",
        [(r["disclosed_at"], r["recipient"]) for r in records],
    )
    by_agreement = chart_svg(
        "disclosures per agreement over time",
        [(r["disclosed_at"], f"{r['agreement_id']} v{r['agreement_version']}") for r in records],
    )
    form = (
        '<form method="get" action="/" id="filters">'
        + _options("recipient", sorted(recipients), wanted.recipient)
        + _options("agreement", sorted({r["agreement_id"] for r in records}), wanted.agreement)
        + _text_input("subject", wanted.subject)
        + _text_input("event", wanted.event)
        + '<button type="submit" id="apply">filter</button> <a href="/">clear</a></form>'
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>intelshare oversight</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>intelshare: disclosure log for oversight</h1>"
        f"{_status_html(status, checkpoint)}"
        f'<h2>Disclosures: <span id="total">{len(records)}</span></h2>'
        '<div class="charts">'
        f"<div><h3>Per recipient</h3>{by_recipient}"
        f"{_counts_table('per-recipient', 'recipient', recipients)}</div>"
        f"<div><h3>Per agreement</h3>{by_agreement}"
        f"{_counts_table('per-agreement', 'agreement', agreements)}</div>"
        "</div>"
        f'<h2>Disclosures shown: <span id="shown">{len(rows)}</span></h2>'
        f"{form}{_disclosure_table(rows)}"
        '<p>JSON: <a href="/api/disclosures">/api/disclosures</a> (same filters)</p>'
        "</body></html>"
    )
