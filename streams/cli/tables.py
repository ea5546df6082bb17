"""Plain-text tables for people at a terminal: ``agencies list``, ``audit query`` and ``audit
stats``.

Pure: rows come in as decoded records (dicts in the shape of their Avro schemas) and go out as
lines. A cell never spans lines or hides text: control characters and bidirectional overrides
(which a hostile name could carry) are shown escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from streams.core.fields import clean_text
from streams.core.times import format_time
from streams.i18n import N_, _

__all__ = [
    "AGENCY_COLUMNS",
    "DISCLOSURE_COLUMNS",
    "agency_json",
    "agency_row",
    "cell",
    "disclosure_row",
    "stats_lines",
    "table",
]

AGENCY_COLUMNS = ("AGENCY", "NAME", "COUNTRY", "KEY ID", "RECEIPTS", "REGISTERED")
"""Columns of ``agencies list``."""
DISCLOSURE_COLUMNS = ("SEQ", "DISCLOSED", "AGREEMENT", "RECIPIENT", "EVENT", "SUBJECTS", "RECEIVED")
"""Columns of ``audit query``."""
EMPTY = "-"
"""A cell with no value."""


def cell(value: object) -> str:
    """``value`` as one table cell: ``-`` for None or empty, escaped when not clean text."""
    text = EMPTY if value is None or value == "" else str(value)
    if clean_text(text):
        return text
    return text.encode("unicode_escape").decode("ascii")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The header and each row, columns padded to their widest cell and two spaces apart, no
    line ending in spaces."""
    cells = [list(header), *([cell(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]


def agency_row(agency: Mapping[str, Any]) -> tuple[object, ...]:
    """One agency record as a row of :data:`AGENCY_COLUMNS`."""
    registered = agency.get("registered_at")
    return (
        agency["agency_id"],
        agency["name"],
        agency.get("country"),
        agency["key_id"],
        "yes" if agency.get("signing_key") else "no",
        format_time(registered) if isinstance(registered, datetime) else None,
    )


def agency_json(agency: Mapping[str, Any]) -> dict[str, Any]:
    """One agency record in JSON: keys in base64 (as reference data gives them), times in
    ISO 8601; ``signing_key`` null when the agency sends no receipts."""
    registered = agency.get("registered_at")
    signing = agency.get("signing_key") or b""
    return {
        "agency_id": agency["agency_id"],
        "name": agency["name"],
        "country": agency.get("country"),
        "key_id": agency["key_id"],
        "public_key": base64.b64encode(agency["public_key"]).decode("ascii"),
        "signing_key": base64.b64encode(signing).decode("ascii") if signing else None,
        "registered_at": format_time(registered) if isinstance(registered, datetime) else None,
    }


def disclosure_row(record: Mapping[str, Any], received: datetime | None) -> tuple[object, ...]:
    """One audit record as a row of :data:`DISCLOSURE_COLUMNS`: subjects as the record holds
    them (real ids, or the pseudonyms the recipient saw), comma-separated."""
    return (
        record["sequence"],
        format_time(record["disclosed_at"]),
        f"{record['agreement_id']} v{record['agreement_version']}",
        record["recipient"],
        record["event_id"],
        ",".join(record["subjects"]),
        format_time(received) if received is not None else None,
    )


STATS_HEADINGS = {
    "per_kind": N_("per kind:"),
    "per_recipient": N_("per recipient:"),
    "per_agreement": N_("per agreement:"),
    "per_day": N_("per day:"),
}
"""The counts of ``audit stats`` after the total, in the order shown, and the heading of each."""


def stats_lines(figures: Mapping[str, Any]) -> list[str]:
    """``audit stats``: the total, then one count per line under each heading (record kinds,
    recipients, agreements and days as they are), then each recipient's feedback."""
    lines = [_("disclosures: {count}", count=figures["disclosures"])]
    for title, heading in STATS_HEADINGS.items():
        lines.append(_(heading))
        lines.extend(f"  {key:<32} {count:>7}" for key, count in figures[title].items())
    lines.append(_("feedback:"))
    for recipient, votes in figures["feedback"].items():
        text = _("useful {yes}, not useful {no}", yes=votes["useful"], no=votes["not useful"])
        lines.append(f"  {recipient:<32} {text}")
    return lines
