"""The oversight page's charts, pure: stacked bars of disclosures per interval, as inline SVG.

The interval (one minute up to a year) is chosen so the span of the data fits in at most 30
bars; the time axis is as long as the bars (never one end of a wide empty axis); tick labels
are spaced so that no two
overlap, say ``HH:MM`` for bars shorter than a day and ``MM-DD`` for longer ones, with the day
(or the year) under the first tick and wherever it changes; the caption gives the interval and
the whole span with its year. Every value is escaped.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from streams.core.times import format_time
from streams.i18n import RTL_LOCALES, _, current_locale

__all__ = ["bucket_size", "chart_svg"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 91 * 86400, 365 * 86400)
_MAX_BARS = 30
_MAX_BAR_WIDTH = 48.0
_WIDTH, _HEIGHT, _LEFT, _RIGHT, _TOP, _BOTTOM = 640, 230, 44, 16, 10, 60
_CHAR = 6.5
"""Width in pixels allowed per character of 10-pixel text, to space the tick labels."""
_GAP = 8.0
"""Pixels kept free between two tick labels."""


def _bucket_size(first: datetime, last: datetime) -> int:
    span = (last - first).total_seconds()
    return next((size for size in _BUCKETS if span / size < _MAX_BARS), _BUCKETS[-1])


def _interval(size: int) -> str:
    if size >= 86400:
        return _("{n} d", n=size // 86400)
    return _("{n} h", n=size // 3600) if size >= 3600 else _("{n} min", n=size // 60)


def _tick(moment: datetime, size: int) -> tuple[str, str]:
    """A tick's label and its context (the date, or the year), shown when the context changes."""
    if size >= 86400:
        return moment.strftime("%m-%d"), moment.strftime("%Y")
    return moment.strftime("%H:%M"), moment.strftime("%m-%d")


def _span(first: datetime, end: datetime, size: int) -> str:
    """The whole span of the bars, for the caption."""
    if size >= 86400:
        return _("{first} to {end}", first=f"{first:%Y-%m-%d}", end=f"{end:%Y-%m-%d}")
    if first.date() == end.date():
        return _("{first} to {end}", first=f"{first:%Y-%m-%d %H:%M}", end=f"{end:%H:%M}")
    return _("{first} to {end}", first=f"{first:%Y-%m-%d %H:%M}", end=f"{end:%Y-%m-%d %H:%M}")


def _y_ticks(tallest: int) -> list[int]:
    return sorted({0, tallest // 2, tallest}) if tallest >= 2 else [0, tallest]


def _fewer_series(
    points: Sequence[tuple[datetime, str]], weights: Sequence[int]
) -> Sequence[tuple[datetime, str]]:
    """At most as many series as the palette has colours: beyond that, the largest but one
    keep their names and the rest are drawn as one, ``other (N)``."""
    totals: Counter[str] = Counter()
    for (_moment, series), n in zip(points, weights, strict=True):
        totals[series] += n
    if len(totals) <= len(_PALETTE):
        return points
    kept = {name for name, _count in totals.most_common(len(_PALETTE) - 1)}
    other = _("other ({n})", n=len(totals) - len(kept))
    return [(moment, series if series in kept else other) for moment, series in points]


def bucket_size(first: datetime, last: datetime) -> int:
    """Seconds a bar stands for, so that the span from ``first`` to ``last`` fits in at most 30
    bars (one minute up to 30 days)."""
    return _bucket_size(first, last)


def chart_svg(
    title: str,
    points: Sequence[tuple[datetime, str]],
    weights: Sequence[int] | None = None,
    size: int | None = None,
) -> str:
    """A stacked bar chart (inline SVG) of how many disclosures each series had per interval.

    ``points`` are (time, series) pairs, e.g. (disclosed_at, recipient), each counting one or,
    given ``weights``, its weight (the oversight index's counts per bar); the interval is
    ``size`` seconds, or else chosen so the whole span fits in at most 30 bars.
    """
    weight = list(weights) if weights is not None else [1] * len(points)
    points = _fewer_series(points, weight)
    label = html.escape(title)
    if not points:
        empty = html.escape(_("no disclosures"))
        return (
            f'<svg role="img" aria-label="{label}" width="240" height="40">'
            f'<text x="10" y="24" font-size="12">{empty}</text></svg>'
        )
    times = [moment.astimezone(UTC) for moment, _series in points]
    size = size or _bucket_size(min(times), max(times))
    counts: dict[int, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for moment, (_moment, series), n in zip(times, points, weight, strict=True):
        start = int(moment.timestamp()) // size * size
        counts.setdefault(start, Counter())[series] += n
        totals[series] += n
    names = sorted({series for _moment, series in points})
    colour = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}
    starts = list(range(min(counts), max(counts) + 1, size))
    tallest = max(sum(c.values()) for c in counts.values())
    plot_h = _HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_h
    bar_w = min((_WIDTH - _LEFT - _RIGHT) / len(starts), _MAX_BAR_WIDTH)
    axis_end = _LEFT + bar_w * len(starts)
    first = datetime.fromtimestamp(starts[0], UTC)
    end = first + timedelta(seconds=size * len(starts))
    caption = _(
        "bars of {interval}, UTC, {span}", interval=_interval(size), span=_span(first, end, size)
    )
    legend = [f"{name}: {totals[name]}" for name in names]
    shown_legend = [f"\u2066{name}\u2069: {totals[name]}" for name in names]
    width = max(
        axis_end + _RIGHT,
        _LEFT + _CHAR * len(caption) + _RIGHT,
        _LEFT + 18 + 7 * max(len(text) for text in legend) + _RIGHT,
    )
    rtl = current_locale() in RTL_LOCALES
    mirror = _Mirror(math.ceil(width) if rtl else None)
    if rtl:
        caption = _isolated(caption)
    shown = 'direction="rtl" ' if rtl else ""
    parts = [
        f'<svg role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg" {shown}'
        f'width="{math.ceil(width)}" height="{_HEIGHT + 20 * len(names)}">'
    ]
    for count in _y_ticks(tallest):
        y = base - plot_h * count / tallest
        parts.append(
            f'<line class="grid" x1="{mirror(_LEFT)}" y1="{y:.1f}" x2="{mirror(axis_end)}" '
            f'y2="{y:.1f}" stroke="#ddd"/>'
            f'<text class="y-tick" x="{mirror(_LEFT - 6)}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11">{count}</text>'
        )
    for index, start in enumerate(starts):
        x = _LEFT + index * bar_w
        y = float(base)
        moment = datetime.fromtimestamp(start, UTC)
        for name in names:
            count = counts.get(start, Counter())[name]
            if not count:
                continue
            bar_h = plot_h * count / tallest
            y -= bar_h
            tip = html.escape(
                _(
                    "{series}: {count} from {time}",
                    series=name,
                    count=count,
                    time=format_time(moment),
                )
            )
            parts.append(
                f'<rect x="{mirror(x + 1, max(bar_w - 2, 1))}" y="{y:.1f}" '
                f'width="{max(bar_w - 2, 1):.1f}" '
                f'height="{bar_h:.1f}" fill="{colour[name]}"><title>{tip}</title></rect>'
            )
    parts.append(
        f'<line class="x-axis" x1="{mirror(_LEFT)}" y1="{base}" x2="{mirror(axis_end)}" '
        f'y2="{base}" stroke="#444"/>'
    )
    parts.extend(_x_ticks(starts, size, bar_w, base, mirror))
    parts.append(
        f'<text class="caption" x="{mirror(_LEFT)}" y="{base + 44}" font-size="10">'
        f"{html.escape(caption)}</text>"
    )
    for index, (name, text) in enumerate(zip(names, shown_legend if rtl else legend, strict=True)):
        y = _HEIGHT + 4 + 20 * index
        parts.append(
            f'<rect x="{mirror(_LEFT, 12)}" y="{y - 10}" width="12" height="12" '
            f'fill="{colour[name]}"/>'
            f'<text class="legend" x="{mirror(_LEFT + 18)}" y="{y}" font-size="12">'
            f"{html.escape(text)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_LTR_RUN = re.compile(r"[0-9][0-9A-Za-z_.:+-]*(?: [0-9][0-9A-Za-z_.:+-]*)*")
"""A run of digits and the punctuation of times and counts (``2026-11-20 14:05``, ``6 h``):
what keeps its left-to-right order in right-to-left text. (Words are left alone: isolating
each would turn an untranslated English sentence around, word by word.)"""


class _Mirror:
    """An x coordinate as drawn: as computed for left to right, or, given the chart's
    ``width`` (right to left), mirrored so that time runs from right to left like the text
    around it and the count axis stands on the right. Text anchors need no change: SVG's
    ``start``/``end`` follow the ``direction`` of the text."""

    def __init__(self, width: int | None) -> None:
        self.width = width

    def __call__(self, x: float, extent: float = 0.0) -> str:
        """``x`` of a point, or of the left edge of a box ``extent`` wide."""
        if self.width is None:
            return f"{x:.1f}" if isinstance(x, float) else str(x)
        return f"{self.width - x - extent:.1f}"


def _isolated(text: str) -> str:
    """``text`` with each run of digits, ids and times kept left to right inside right-to-left
    text (Unicode's LRI ... PDI), as ``<bdi>`` does in HTML, which SVG text cannot hold."""
    return _LTR_RUN.sub("\u2066\\g<0>\u2069", text)


def _x_ticks(
    starts: Sequence[int], size: int, bar_w: float, base: float, mirror: _Mirror
) -> list[str]:
    """A tick under every ``step``-th bar, ``step`` chosen so no two labels overlap."""
    ticks = [_tick(datetime.fromtimestamp(start, UTC), size) for start in starts]
    widest = max(max(len(text), len(context)) for text, context in ticks) * _CHAR
    step = max(1, math.ceil((widest + _GAP) / bar_w))
    parts: list[str] = []
    shown_context = ""
    for index in range(0, len(starts), step):
        text, context = ticks[index]
        x = mirror(_LEFT + (index + 0.5) * bar_w)
        parts.append(
            f'<line x1="{x}" y1="{base}" x2="{x}" y2="{base + 4}" stroke="#444"/>'
            f'<text class="x-tick" x="{x}" y="{base + 15}" text-anchor="middle" '
            f'font-size="10">{html.escape(text)}</text>'
        )
        if context != shown_context:
            parts.append(
                f'<text class="x-context" x="{x}" y="{base + 27}" text-anchor="middle" '
                f'font-size="10">{html.escape(context)}</text>'
            )
            shown_context = context
    return parts
