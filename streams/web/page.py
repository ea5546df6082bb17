"""The oversight page, pure: chain status, charts and totals of the filtered disclosures, and
the filtered table, newest first.

Records come in as decoded audit records (streams.kafka.auditlog reads them); out comes HTML
with the charts as inline SVG (:mod:`streams.web.chart`), so the page needs nothing from the
network and no script. Every value from the log is escaped. The audit log holds no narrative or
payload, and neither does the page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from streams.audit.chain import RECORD_KINDS
from streams.audit.records import AuditFilter, matches
from streams.audit.verify import ChainStatus
from streams.audit.witness import WitnessView
from streams.core.policy import Agreement
from streams.core.times import format_time
from streams.i18n import N_, _, localise, ngettext
from streams.web.chart import chart_svg
from streams.web.pageparts import (
    FIELD_LABELS,
    STYLE,
    UNKNOWN_STATUS,
    esc,
    filter_buttons,
    key_problem_hint,
    ltr,
    matching_html,
    number,
    page_head,
    row_time,
    state_text,
    time_html,
)

__all__ = [
    "NOT_RECEIVED",
    "STYLE",
    "agreement_status",
    "agreements_note",
    "chart_svg",
    "charts_html",
    "counts_table",
    "disclosure_row",
    "disclosure_table",
    "esc",
    "filter_buttons",
    "key_problem_hint",
    "ltr",
    "matching_html",
    "newest_first",
    "number",
    "options_html",
    "page_head",
    "render_page",
    "state_text",
    "status_html",
    "text_input_html",
    "time_html",
    "witnesses_html",
]

NOT_RECEIVED = "—"
"""What the "received" column shows for a disclosure with no verified receipt."""


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
    (active)`` when a later version was published; ``no agreement`` for a record made under
    none (a collection, an erasure ...); None when the agreements are not known."""
    if not agreement_id:
        return "no agreement"
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


def status_html(status: ChainStatus, checkpoint: Mapping[str, Any] | None, hint: str) -> str:
    if status.sound:
        # a call inside an f-string is not seen by pybabel's extraction: translated here
        verified = esc(_("verified"))
        chain = ngettext(
            "{verified}: {count} record, {detail}",
            "{verified}: {count} records, {detail}",
            status.records,
            verified=f'<span class="sound" id="chain">{verified}</span>',
            count=number(status.records),
            detail=esc(localise(status.detail)),
        )
    else:
        if status.broken_at is not None:
            where = _("BROKEN at sequence {sequence}", sequence=ltr(status.broken_at))
        else:
            where = esc(_("BROKEN"))
        chain = f'<span class="broken" id="chain">{where}</span>: {esc(localise(status.detail))}'
    likely = (
        '<p class="hint" id="key-hint">'
        + _("Likely cause: the exchange keys given, not the log. {hint}.", hint=esc(hint))
        + "</p>"
        if hint
        else ""
    )
    if checkpoint is None:
        signed = esc(_("no signed checkpoint yet"))
    else:
        signed = ngettext(
            "{count} record, signed at {time}",
            "{count} records, signed at {time}",
            checkpoint["tree_size"],
            count=number(checkpoint["tree_size"]),
            time=time_html(checkpoint["created_at"]),
        )
    return (
        "<p>" + _("Chain: {chain}", chain=chain) + f"</p>{likely}"
        "<p>"
        + _("Last checkpoint: {checkpoint}", checkpoint=f'<span id="checkpoint">{signed}</span>')
        + "</p><p>"
        + _(
            "Reconciliation with the feeds: {command}.",
            command="<code>intelshare audit verify</code>",
        )
        + "</p>"
    )


def options_html(name: str, values: Iterable[str], chosen: str | None) -> str:
    listed = sorted(set(values) | ({chosen} if chosen else set()))
    anything = _("any")
    items = [f'<option value="">{esc(anything)}</option>'] + [
        f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>'
        for v in listed
    ]
    label = esc(_(FIELD_LABELS[name])) if name in FIELD_LABELS else name
    return f'<label>{label} <select name="{name}" id="f-{name}">{"".join(items)}</select></label>'


def text_input_html(name: str, value: str | None, placeholder: str = "") -> str:
    hint = f' placeholder="{esc(placeholder)}" dir="ltr"' if placeholder else ""
    label = esc(_(FIELD_LABELS[name])) if name in FIELD_LABELS else name
    return (
        f'<label>{label} <input name="{name}" id="f-{name}" value="{esc(value or "")}"{hint} '
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
        + options_html("kind", RECORD_KINDS, wanted.kind)
        + filter_buttons()
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
        return f'<td class="status {_state_class(state)}">{state_text(state)}</td>'

    rows = "".join(
        f'<tr><td class="key nowrap">{ltr(k)}</td>{status(k)}'
        f'<td class="count">{number(v)}</td></tr>'
        for k, v in sorted(counts.items())
    )
    status_head, disclosures = _("status"), _("disclosures")
    extra = f"<th>{esc(status_head)}</th>" if states is not None else ""
    heads = f"<th>{esc(title)}</th>{extra}<th>{esc(disclosures)}</th>"
    return f'<table id="{ident}"><tr>{heads}</tr>{rows}</table>'


def _link(name: str, value: str) -> str:
    from streams.i18n import current_locale

    query = {name: value} | ({"lang": current_locale()} if current_locale() != "en" else {})
    return f'<a href="{esc("/?" + urlencode(query))}">{ltr(value)}</a>'


def disclosure_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(
        f"<th>{esc(_(h))}</th>"
        for h in (
            N_("sequence"), N_("disclosed (UTC)"), N_("event"), N_("disclosure"),
            N_("recipient"), N_("agreement"), N_("agreement status"), N_("subjects"),
            N_("legal basis"), N_("purpose"), N_("fields disclosed"), N_("received"),
        )
    )  # fmt: skip
    body = "".join(
        '<tr class="disclosure">'
        f'<td class="sequence">{ltr(row["sequence"])}</td>'
        f'<td class="time nowrap">{row_time(row["disclosed_at"])}</td>'
        f'<td class="event nowrap">{_link("event", row["event_id"])}</td>'
        f'<td class="disclosure nowrap">{ltr(row["disclosure_id"])}</td>'
        f'<td class="recipient nowrap">{ltr(row["recipient"])}</td>'
        f'<td class="agreement nowrap">'
        f"{ltr(str(row['agreement_id']) + ' v' + str(row['agreement_version']))}</td>"
        f'<td class="status {_state_class(row["agreement_status"])}">'
        f"{state_text(row['agreement_status'])}</td>"
        '<td class="subjects">'
        + (
            ", ".join(f'<span class="nowrap">{_link("subject", s)}</span>' for s in row["subjects"])
            or "-"
        )
        + "</td>"
        f"<td>{esc(row['legal_basis'])}</td><td>{esc(row['purpose'])}</td>"
        f"<td>{ltr(', '.join(row['fields_disclosed']))}</td>"
        f'<td class="received nowrap">{row_time(row["received"]) or NOT_RECEIVED}</td></tr>'
        for row in rows
    )
    table = f'<div class="wide"><table id="disclosures"><tr>{head}</tr>{body}</table></div>'
    if not rows:
        none = _("No disclosure matches these filters.")
        table += f'<p id="none">{esc(none)}</p>'
    return table


def _version(record: Mapping[str, Any]) -> str:
    return f"{record['agreement_id']} v{record['agreement_version']}"


def witnesses_html(witnesses: Sequence[WitnessView] | None) -> str:
    """Each trusted witness's last cosigned size and time; nothing when no witness key was
    given (or the cosignatures could not be read)."""
    if witnesses is None:
        return ""
    if not witnesses:
        text = _("Witnesses: none of the witnesses given has cosigned a checkpoint.")
        return f'<p id="witnesses" class="broken">{esc(text)}</p>'
    items = "".join(
        "<li>"
        + ngettext(
            "{witness} (key {key_id}): cosigned {count} record at {time}",
            "{witness} (key {key_id}): cosigned {count} records at {time}",
            w.tree_size,
            witness=ltr(w.witness),
            key_id=ltr(w.key_id),
            count=number(w.tree_size),
            time=time_html(w.cosigned_at),
        )
        + "</li>"
        for w in witnesses
    )
    title = _("Witnesses")
    return f'<h2>{esc(title)}</h2><ul id="witnesses">{items}</ul>'


def agreements_note(agreements: Mapping[str, Agreement] | None, problem: str | None) -> str:
    if agreements is not None:
        return ""
    why = problem or _("the published agreements were not read")
    text = _("Agreement status unknown: {why}.", why=esc(why))
    return f'<p class="note" id="agreements-note">{text}</p>'


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
        _("disclosures per recipient over time"),
        [(r["disclosed_at"], r["recipient"]) for r in chosen],
    )
    by_agreement = chart_svg(
        _("disclosures per agreement over time"),
        [(r["disclosed_at"], _version(r)) for r in chosen],
    )
    hint = key_problem_hint(status, records, checkpoint, key_ids)
    return (
        page_head() + f"{status_html(status, checkpoint, hint)}"
        f"{witnesses_html(witnesses)}"
        f"{_form(records, wanted)}"
        f"<h2>{matching_html(len(chosen), len(records))}</h2>"
        + charts_html(by_recipient, recipients, by_agreement, per_agreement, states)
        + "<h2>"
        + _(
            "Disclosures shown, newest first: {shown}",
            shown=f'<span id="shown">{number(len(rows))}</span>',
        )
        + "</h2>"
        f"{agreements_note(agreements, agreements_problem)}"
        f"{disclosure_table(rows)}"
        "<p>"
        + _(
            "JSON: {link} (same filters)",
            link='<a href="/api/disclosures">/api/disclosures</a>',
        )
        + "</p></body></html>"
    )


def charts_html(
    by_recipient: str,
    recipients: Mapping[str, int],
    by_agreement: str,
    per_agreement: Mapping[str, int],
    states: Mapping[str, str | None],
) -> str:
    """The two charts, each with its table of totals."""
    per_recipient, per_agreement_title = _("Per recipient"), _("Per agreement")
    recipient, agreement = _("recipient"), _("agreement")
    return (
        '<div class="charts">'
        f"<div><h3>{esc(per_recipient)}</h3>{by_recipient}"
        f"{counts_table('per-recipient', recipient, recipients, None)}</div>"
        f"<div><h3>{esc(per_agreement_title)}</h3>{by_agreement}"
        f"{counts_table('per-agreement', agreement, per_agreement, states)}</div>"
        "</div>"
    )
