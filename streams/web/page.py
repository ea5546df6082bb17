"""The oversight page, pure: chain status, charts and totals of the filtered disclosures, and
the filtered table, newest first.

Records come in as decoded audit records (streams.kafka.auditlog reads them); out comes HTML
with the charts as inline SVG (:mod:`streams.web.chart`), so the page needs nothing from the
network and no script. Every value from the log is escaped. The audit log holds no narrative or
payload, and neither does the page.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from streams.audit.records import AuditFilter, matches
from streams.audit.verify import ChainStatus
from streams.audit.witness import WitnessView
from streams.core.policy import Agreement
from streams.core.times import format_time
from streams.web.chart import chart_svg

__all__ = [
    "NOT_RECEIVED",
    "STYLE",
    "agreement_status",
    "agreements_note",
    "chart_svg",
    "counts_table",
    "disclosure_row",
    "disclosure_table",
    "esc",
    "key_problem_hint",
    "newest_first",
    "options_html",
    "render_page",
    "status_html",
    "text_input_html",
    "witnesses_html",
]

NOT_RECEIVED = "—"
"""What the "received" column shows for a disclosure with no verified receipt."""
UNKNOWN_STATUS = "unknown"
"""What the agreement status column shows when the published agreements could not be read."""


def disclosure_row(
    record: Mapping[str, Any],
    received: Mapping[str, datetime] | None = None,
    agreement_state: str | None = None,
) -> dict[str, Any]:
    """One disclosure as the table and the JSON API show it: who, when, why, the status now of
    the agreement it was made under, and when the recipient opened it (from its verified
    receipt); never the payload."""
    opened = (received or {}).get(record["disclosure_id"])
    return {
        "sequence": record["sequence"],
        "disclosed_at": format_time(record["disclosed_at"]),
        "disclosure_id": record["disclosure_id"],
        "event_id": record["event_id"],
        "recipient": record["recipient"],
        "agreement_id": record["agreement_id"],
        "agreement_version": record["agreement_version"],
        "agreement_status": agreement_state,
        "legal_basis": record["legal_basis"],
        "purpose": record["purpose"],
        "fields_disclosed": list(record["fields_disclosed"]),
        "subjects": list(record["subjects"]),
        "received": format_time(opened) if opened else None,
    }


def newest_first(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records by sequence number, the newest (highest) first."""
    return sorted(records, key=lambda r: r["sequence"], reverse=True)


def agreement_status(
    agreement_id: str,
    version: int,
    agreements: Mapping[str, Agreement] | None,
    now: datetime,
) -> str | None:
    """The status now of the agreement version a disclosure was made under, from the latest
    published version of each agreement: ``active``, ``expired``, ``revoked`` or
    ``not-yet-valid`` when it is still the latest; ``revoked in v3`` or ``superseded by v3
    (active)`` when a later version was published; None when the agreements are not known."""
    if agreements is None:
        return None
    latest = agreements.get(agreement_id)
    if latest is None:
        return "not published"
    if latest.version == version:
        return latest.state(now)
    if latest.version < version:
        return f"v{version} not published (latest v{latest.version})"
    if latest.revoked:
        return f"revoked in v{latest.version}"
    return f"superseded by v{latest.version} ({latest.state(now)})"


def key_problem_hint(
    status: ChainStatus,
    records: Sequence[Mapping[str, Any]],
    checkpoint: Mapping[str, Any] | None,
    key_ids: Collection[str],
) -> str:
    """When the chain may be broken only because the wrong keys were given: which key id
    signed what failed, the key ids given, and the setting to check. Empty otherwise."""
    if not status.key_problem:
        return ""
    if status.broken_at is not None:
        what = f"Record {status.broken_at}"
        signer = next((r["key_id"] for r in records if r["sequence"] == status.broken_at), None)
    else:
        what = "The checkpoint"
        signer = checkpoint["key_id"] if checkpoint is not None else None
    given = ", ".join(sorted(key_ids)) or "none"
    return (
        f"{what} is signed by key id {signer or '(none)'}, which is not among the exchange keys "
        f"given ({given}); the log may be sound: check --exchange-key, or the exchange*.pub "
        "files in $INTELSHARE_HOME/keys, against the keys the exchange published"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem}
th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}.sound{color:#176c17;font-weight:bold}.broken{color:#b00;font-weight:bold}
.hint{color:#b00}.note{color:#555}.nowrap{white-space:nowrap}.wide{overflow-x:auto}
.charts{display:flex;flex-wrap:wrap;gap:2rem}form label{margin-right:.8rem;white-space:nowrap}
.st-active{color:#176c17}.st-revoked{color:#b00;font-weight:bold}.st-expired{color:#a05a00}
.st-superseded,.st-unknown{color:#555}
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def status_html(status: ChainStatus, checkpoint: Mapping[str, Any] | None, hint: str) -> str:
    if status.sound:
        chain = f'<span class="sound" id="chain">verified</span>: {status.records} records, '
    else:
        where = f"at sequence {status.broken_at}" if status.broken_at is not None else ""
        chain = f'<span class="broken" id="chain">BROKEN {esc(where)}</span>: '
    chain += esc(status.detail)
    likely = (
        f'<p class="hint" id="key-hint">Likely cause: the exchange keys given, not the log. '
        f"{esc(hint)}.</p>"
        if hint
        else ""
    )
    if checkpoint is None:
        signed = "no signed checkpoint yet"
    else:
        signed = (
            f"{esc(checkpoint['tree_size'])} records, signed at "
            f"{esc(format_time(checkpoint['created_at']))}"
        )
    return (
        f"<p>Chain: {chain}</p>{likely}"
        f'<p>Last checkpoint: <span id="checkpoint">{signed}</span></p>'
        "<p>Reconciliation with the feeds: <code>intelshare audit verify</code>.</p>"
    )


def options_html(name: str, values: Iterable[str], chosen: str | None) -> str:
    listed = sorted(set(values) | ({chosen} if chosen else set()))
    items = ['<option value="">any</option>'] + [
        f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>'
        for v in listed
    ]
    return f'<label>{name} <select name="{name}" id="f-{name}">{"".join(items)}</select></label>'


def text_input_html(name: str, value: str | None, placeholder: str = "") -> str:
    hint = f' placeholder="{esc(placeholder)}"' if placeholder else ""
    return (
        f'<label>{name} <input name="{name}" id="f-{name}" value="{esc(value or "")}"{hint} '
        'size="22"></label>'
    )


def _form(records: Sequence[Mapping[str, Any]], wanted: AuditFilter) -> str:
    since = format_time(wanted.since) if wanted.since else None
    until = format_time(wanted.until) if wanted.until else None
    example = "2026-11-01T00:00:00Z"
    return (
        '<form method="get" action="/" id="filters">'
        + options_html("recipient", (r["recipient"] for r in records), wanted.recipient)
        + options_html("agreement", (r["agreement_id"] for r in records), wanted.agreement)
        + text_input_html("subject", wanted.subject)
        + text_input_html("event", wanted.event)
        + text_input_html("since", since, example)
        + text_input_html("until", until, example)
        + '<button type="submit" id="apply">filter</button> <a href="/">clear</a></form>'
    )


def _state_class(state: str | None) -> str:
    word = (state or UNKNOWN_STATUS).split()[0]
    return f"st-{word}" if word in ("active", "expired", "revoked", "superseded") else "st-unknown"


def counts_table(
    ident: str, title: str, counts: Mapping[str, int], states: Mapping[str, str | None] | None
) -> str:
    def status(key: str) -> str:
        if states is None:
            return ""
        state = states.get(key)
        return f'<td class="status {_state_class(state)}">{esc(state or UNKNOWN_STATUS)}</td>'

    rows = "".join(
        f'<tr><td class="key nowrap">{esc(k)}</td>{status(k)}<td class="count">{v}</td></tr>'
        for k, v in sorted(counts.items())
    )
    extra = "<th>status</th>" if states is not None else ""
    return f'<table id="{ident}"><tr><th>{title}</th>{extra}<th>disclosures</th></tr>{rows}</table>'


def _link(name: str, value: str) -> str:
    return f'<a href="{esc("/?" + urlencode({name: value}))}">{esc(value)}</a>'


def disclosure_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "sequence", "disclosed (UTC)", "event", "disclosure", "recipient", "agreement",
            "agreement status", "subjects", "legal basis", "purpose", "fields disclosed",
            "received",
        )
    )  # fmt: skip
    body = "".join(
        '<tr class="disclosure">'
        f'<td class="sequence">{row["sequence"]}</td>'
        f'<td class="time nowrap">{esc(row["disclosed_at"])}</td>'
        f'<td class="event nowrap">{_link("event", row["event_id"])}</td>'
        f'<td class="disclosure nowrap">{esc(row["disclosure_id"])}</td>'
        f'<td class="recipient nowrap">{esc(row["recipient"])}</td>'
        f'<td class="agreement nowrap">{esc(row["agreement_id"])} '
        f"v{esc(row['agreement_version'])}</td>"
        f'<td class="status {_state_class(row["agreement_status"])}">'
        f"{esc(row['agreement_status'] or UNKNOWN_STATUS)}</td>"
        '<td class="subjects">'
        + (
            ", ".join(f'<span class="nowrap">{_link("subject", s)}</span>' for s in row["subjects"])
            or "-"
        )
        + "</td>"
        f"<td>{esc(row['legal_basis'])}</td><td>{esc(row['purpose'])}</td>"
        f"<td>{esc(', '.join(row['fields_disclosed']))}</td>"
        f'<td class="received nowrap">{esc(row["received"] or NOT_RECEIVED)}</td></tr>'
        for row in rows
    )
    table = f'<div class="wide"><table id="disclosures"><tr>{head}</tr>{body}</table></div>'
    if not rows:
        table += '<p id="none">No disclosure matches these filters.</p>'
    return table


def _version(record: Mapping[str, Any]) -> str:
    return f"{record['agreement_id']} v{record['agreement_version']}"


def witnesses_html(witnesses: Sequence[WitnessView] | None) -> str:
    """Each trusted witness's last cosigned size and time; nothing when no witness key was
    given (or the cosignatures could not be read)."""
    if witnesses is None:
        return ""
    if not witnesses:
        return (
            '<p id="witnesses" class="broken">Witnesses: none of the witnesses given has '
            "cosigned a checkpoint.</p>"
        )
    items = "".join(
        f"<li>{esc(w.witness)} (key {esc(w.key_id)}): cosigned {w.tree_size} records at "
        f"{esc(format_time(w.cosigned_at))}</li>"
        for w in witnesses
    )
    return f'<h2>Witnesses</h2><ul id="witnesses">{items}</ul>'


def agreements_note(agreements: Mapping[str, Agreement] | None, problem: str | None) -> str:
    if agreements is not None:
        return ""
    why = problem or "the published agreements were not read"
    return f'<p class="note" id="agreements-note">Agreement status unknown: {esc(why)}.</p>'


def render_page(
    records: Sequence[Mapping[str, Any]],
    checkpoint: Mapping[str, Any] | None,
    status: ChainStatus,
    wanted: AuditFilter,
    received: Mapping[str, datetime] | None = None,
    *,
    agreements: Mapping[str, Agreement] | None = None,
    agreements_problem: str | None = None,
    key_ids: Collection[str] = (),
    now: datetime | None = None,
    witnesses: Sequence[WitnessView] | None = None,
) -> str:
    """The whole oversight page: the chain's status (naming the keys when they may be the
    cause), then charts, totals and the table of the disclosures that meet ``wanted``, the
    newest first, each with the status at ``now`` of its agreement from ``agreements`` (the
    latest published version of each; None when they could not be read, ``agreements_problem``
    saying why). ``key_ids`` are the exchange keys the chain was verified with."""
    moment = now or datetime.now(UTC)
    chosen = newest_first(r for r in records if matches(r, wanted))
    states = {
        _version(r): agreement_status(r["agreement_id"], r["agreement_version"], agreements, moment)
        for r in chosen
    }
    rows = [disclosure_row(r, received, states[_version(r)]) for r in chosen]
    recipients = Counter(r["recipient"] for r in chosen)
    per_agreement = Counter(_version(r) for r in chosen)
    by_recipient = chart_svg(
        "disclosures per recipient over time",
        [(r["disclosed_at"], r["recipient"]) for r in chosen],
    )
    by_agreement = chart_svg(
        "disclosures per agreement over time",
        [(r["disclosed_at"], _version(r)) for r in chosen],
    )
    hint = key_problem_hint(status, records, checkpoint, key_ids)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>intelshare oversight</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>intelshare: disclosure log for oversight</h1>"
        f"{status_html(status, checkpoint, hint)}"
        f"{witnesses_html(witnesses)}"
        f"{_form(records, wanted)}"
        f'<h2>Disclosures matching the filters: <span id="total">{len(chosen)}</span> of '
        f'<span id="in-log">{len(records)}</span> in the log</h2>'
        '<div class="charts">'
        f"<div><h3>Per recipient</h3>{by_recipient}"
        f"{counts_table('per-recipient', 'recipient', recipients, None)}</div>"
        f"<div><h3>Per agreement</h3>{by_agreement}"
        f"{counts_table('per-agreement', 'agreement', per_agreement, states)}</div>"
        "</div>"
        f'<h2>Disclosures shown, newest first: <span id="shown">{len(rows)}</span></h2>'
        f"{agreements_note(agreements, agreements_problem)}"
        f"{disclosure_table(rows)}"
        '<p>JSON: <a href="/api/disclosures">/api/disclosures</a> (same filters)</p>'
        "</body></html>"
    )
