"""The oversight page's language-dependent parts: the page's head with ``lang`` and ``dir``,
times in the page's language (CLDR, by Babel), agreement states in words, and bidi isolation
(``<bdi>``) of ids, numbers and times, so they read left to right inside right-to-left text.

The page's language is that of :func:`streams.i18n.use_locale` around the rendering; every text
goes through :func:`streams.i18n._`.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from streams.audit.verify import ChainStatus
from streams.core.times import format_time
from streams.i18n import LOCALES, N_, _, current_locale, direction

__all__ = [
    "FIELD_LABELS",
    "STYLE",
    "UNKNOWN_STATUS",
    "esc",
    "filter_buttons",
    "key_problem_hint",
    "ltr",
    "matching_html",
    "number",
    "page_head",
    "row_time",
    "state_text",
    "time_html",
]

UNKNOWN_STATUS = "unknown"
"""What the agreement status column shows when the published agreements could not be read."""


_STATES = {
    "active": N_("active"),
    "expired": N_("expired"),
    "revoked": N_("revoked"),
    "not-yet-valid": N_("not yet valid"),
    "not published": N_("not published"),
    # Translators: the status of an audit record made under no sharing agreement (a report's
    # collection, an erasure ...)
    "no agreement": N_("no agreement"),
    "unknown": N_("unknown"),
}


def state_text(state: str | None) -> str:
    """An agreement status as the page shows it, in the page's language (the JSON API keeps
    the codes of :func:`agreement_status`)."""
    code = state or UNKNOWN_STATUS
    if code in _STATES:
        return _(_STATES[code])
    words = code.split()
    if code.startswith("revoked in v"):
        return _("revoked in {version}", version=ltr(words[-1]))
    if code.startswith("superseded by v"):
        inner = code.split("(", 1)[1].rstrip(")")
        return _(
            "superseded by {version} ({state})", version=ltr(words[2]), state=state_text(inner)
        )
    if " not published (latest " in code:
        return _(
            "{version} not published (latest {latest})",
            version=ltr(words[0]),
            latest=ltr(words[-1].rstrip(")")),
        )
    return code


def ltr(value: Any) -> str:
    """``value`` escaped and isolated, so an id, number or time keeps its left-to-right order
    inside right-to-left text (Unicode bidi, HTML's ``<bdi>``)."""
    return f"<bdi>{esc(value)}</bdi>"


def number(value: int) -> str:
    """A count, isolated like :func:`ltr`, in the page's language's CLDR number format
    (``12 345`` in Russian and Kazakh); English keeps the plain digits it always showed."""
    locale = current_locale()
    if locale == "en":
        return ltr(value)
    from babel.numbers import format_decimal

    return ltr(format_decimal(value, locale=locale))


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
    given = ", ".join(sorted(key_ids)) or _("none")
    if status.broken_at is not None:
        signer = next((r["key_id"] for r in records if r["sequence"] == status.broken_at), None)
        return _(
            "Record {sequence} is signed by key id {key_id}, which is not among the exchange "
            "keys given ({given}); the log may be sound: check --exchange-key, or the "
            "exchange*.pub files in $INTELSHARE_HOME/keys, against the keys the exchange "
            "published",
            sequence=status.broken_at,
            key_id=signer or _("(none)"),
            given=given,
        )
    signer = checkpoint["key_id"] if checkpoint is not None else None
    return _(
        "The checkpoint is signed by key id {key_id}, which is not among the exchange keys "
        "given ({given}); the log may be sound: check --exchange-key, or the exchange*.pub "
        "files in $INTELSHARE_HOME/keys, against the keys the exchange published",
        key_id=signer or _("(none)"),
        given=given,
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem}
th,td{border:1px solid #bbb;padding-block:.25rem;padding-inline:.5rem;text-align:start;
vertical-align:top}
th{background:#eee}.sound{color:#176c17;font-weight:bold}.broken{color:#b00;font-weight:bold}
.hint{color:#b00}.note{color:#555}.nowrap{white-space:nowrap}.wide{overflow-x:auto}
.charts{display:flex;flex-wrap:wrap;gap:2rem}
form label{margin-inline-end:.8rem;white-space:nowrap;unicode-bidi:isolate}
nav#languages{font-size:.85rem;text-align:end}nav#languages a{margin-inline-start:.6rem}
.st-active{color:#176c17}.st-revoked{color:#b00;font-weight:bold}.st-expired{color:#a05a00}
.st-superseded,.st-unknown{color:#555}
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def time_html(moment: datetime) -> str:
    """A time as the page shows it: in the page's language with CLDR's medium format (Babel),
    UTC, the ISO 8601 form in ``datetime`` for machines; English keeps the ISO form, which
    the exchange's English-speaking users and its tests read."""
    iso = format_time(moment)
    locale = current_locale()
    if locale == "en":
        shown = iso
    else:
        from babel.dates import format_datetime  # CLDR data loads on first use

        shown = format_datetime(moment.astimezone(UTC), "medium", tzinfo=UTC, locale=locale)
    return f'<time datetime="{esc(iso)}"><bdi>{esc(shown)}</bdi></time>'


FIELD_LABELS = {
    "recipient": N_("recipient"),
    "agreement": N_("agreement"),
    "subject": N_("subject"),
    "event": N_("event"),
    "since": N_("since"),
    "until": N_("until"),
    # Translators: the filter of the kind of audit record (disclosure, collection,
    # consultation ...: the codes are shown as they are)
    "kind": N_("record kind"),
    "sort": N_("sort"),
    "order": N_("order"),
}


def filter_buttons() -> str:
    """The form's buttons, in the page's language (``?lang=`` kept by a hidden field)."""
    locale = current_locale()
    keep = f'<input type="hidden" name="lang" value="{esc(locale)}">' if locale != "en" else ""
    clear = "/" if locale == "en" else f"/?lang={esc(locale)}"
    apply, reset = _("filter"), _("clear")
    return (
        f'{keep}<button type="submit" id="apply">{esc(apply)}</button> '
        f'<a href="{clear}">{esc(reset)}</a></form>'
    )


def row_time(iso: str | None) -> str:
    """A time of the table (ISO 8601 in the row) as :func:`time_html` shows it."""
    if not iso:
        return ""
    return time_html(datetime.fromisoformat(iso))


def page_head() -> str:
    """The page's start: ``lang`` and ``dir`` of the page's language, the title, the style,
    the heading and a link to each shipped language (named in itself, by CLDR)."""
    from babel import Locale

    locale = current_locale()
    links = " ".join(
        f'<a href="/?lang={code}" lang="{code}" dir="{direction(code)}" hreflang="{code}">'
        f"{esc(Locale.parse(code).get_display_name(code) or code)}</a>"
        for code in LOCALES
        if code != locale
    )
    title, heading = _("intelshare oversight"), _("intelshare: disclosure log for oversight")
    return (
        f'<!DOCTYPE html><html lang="{locale}" dir="{direction(locale)}"><head>'
        '<meta charset="utf-8">'
        f"<title>{esc(title)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f'<nav id="languages">{links}</nav>'
        f"<h1>{esc(heading)}</h1>"
    )


def matching_html(total: int, in_log: int) -> str:
    """How many disclosures meet the filters, of how many in the log."""
    return _(
        "Disclosures matching the filters: {total} of {in_log} in the log",
        total=f'<span id="total">{number(total)}</span>',
        in_log=f'<span id="in-log">{number(in_log)}</span>',
    )
