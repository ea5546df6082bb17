"""Oversight of the disclosure log: verify the chain, reconcile it with the feeds, and query,
export and count it. Pure: records come in as decoded dicts; reading Kafka is the caller's.

An export row is the audit record in JSON (bytes as hex, times ISO 8601), so an oversight body
can keep a copy and verify it offline with only the exchange's public key.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from streams.audit.chain import RECORD_KINDS
from streams.core.disclosure import disclosure_digest
from streams.core.times import format_time, parse_time
from streams.errors import ConfigError
from streams.i18n import msg

__all__ = [
    "FEED_KINDS",
    "FILTERS",
    "AuditFilter",
    "Discrepancy",
    "export_row",
    "import_row",
    "matches",
    "parse_filter",
    "reconcile",
    "stats",
    "stats_figures",
    "to_csv",
]

_BYTES = ("payload_sha256", "disclosure_sha256", "prev_hash", "hash", "signature")
_TIMES = ("disclosed_at", "recorded_at")
FEED_KINDS = ("disclosure", "recall", "correction", "erasure")
"""The record kinds whose message goes on the recipient's feed (an erasure's only when it has
a recipient): reconciliation expects that message. The other kinds have none."""


class Discrepancy(NamedTuple):
    """A disagreement between the audit log and the feeds."""

    sequence: int | None
    """The audit record concerned, or None for a feed message that has none."""
    disclosure_id: str
    """The disclosure concerned."""
    reason: str
    """What is wrong."""


def reconcile(
    audit: Iterable[Mapping[str, Any]], disclosures: Iterable[Mapping[str, Any]]
) -> list[Discrepancy]:
    """Every feed message has exactly one audit record naming its digest, and vice versa."""
    records = {r["disclosure_id"]: r for r in audit}
    seen: Counter[str] = Counter()
    found: list[Discrepancy] = []
    for disclosure in disclosures:
        ident = disclosure["disclosure_id"]
        seen[ident] += 1
        record = records.get(ident)
        if record is None:
            reason = msg(
                "is on the feed of {recipient} but has no audit record",
                recipient=disclosure["recipient"],
            )
            found.append(Discrepancy(None, ident, reason))
        elif seen[ident] > 1:
            once = msg("is on the feed more than once")
            found.append(Discrepancy(record["sequence"], ident, once))
        elif record["recipient"] != disclosure["recipient"] or (
            record["disclosure_sha256"]
            and record["disclosure_sha256"] != disclosure_digest(disclosure)
        ):
            reason = msg("differs on the feed from what its audit record names")
            found.append(Discrepancy(record["sequence"], ident, reason))
    for ident, record in records.items():
        if (record.get("kind") or "disclosure") not in FEED_KINDS:
            if record.get("kind") == "consultation" and not _received(records, record):
                reason = msg(
                    "records that {recipient} opened disclosure {refers_to}, which the log "
                    "does not show disclosed to it",
                    recipient=record["recipient"],
                    refers_to=record.get("refers_to"),
                )
                found.append(Discrepancy(record["sequence"], ident, reason))
            continue  # feedback goes to the unit's topic; a consultation is the agency's act
        if not seen[ident] and record["recipient"]:  # an erasure nobody was told of: no feed
            reason = msg(
                "is audited but missing from the feed of {recipient}", recipient=record["recipient"]
            )
            found.append(Discrepancy(record["sequence"], ident, reason))
    return sorted(found, key=lambda d: (d.sequence is None, d.sequence or 0))


def _received(records: Mapping[str, Mapping[str, Any]], consultation: Mapping[str, Any]) -> bool:
    """Whether the disclosure (or notice) a consultation names went to its agency, before it."""
    target = records.get(consultation.get("refers_to") or "")
    return (
        target is not None
        and (target.get("kind") or "disclosure") in FEED_KINDS
        and target["recipient"] == consultation["recipient"]
        and target["sequence"] < consultation["sequence"]
    )


class AuditFilter(NamedTuple):
    """``audit query`` filters; None matches anything."""

    recipient: str | None = None
    agreement: str | None = None
    subject: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    subject_link: str | None = None
    """The oversight link of ``subject``, when the link key is at hand: it finds the records
    where that subject was disclosed under a pseudonym too."""
    subject_commitment: str | None = None
    """The commitment of ``subject`` under its data key (``intel.keys.commitments`` by its
    link, until it is erased): it finds the records written since subjects have keys."""
    kind: str | None = None
    """The record kind (``RECORD_KINDS``): disclosure, collection, consultation ..."""


FILTERS = ("recipient", "agreement", "subject", "event", "since", "until", "kind")
"""The filters of ``audit query``, the oversight page and ``/api/disclosures``."""


def parse_filter(values: Mapping[str, str | None]) -> AuditFilter:
    """An AuditFilter from text values (options or a query string); empty means no filter.

    ConfigError for a time that is not ISO 8601 with a time zone.
    """
    given = {name: (values.get(name) or "").strip() or None for name in FILTERS}
    times: dict[str, datetime | None] = {"since": None, "until": None}
    for name in times:
        text = given[name]
        if text is not None:
            problem, times[name] = parse_time(text)
            if problem is not None:
                # Translators: {name} is an option (since, until), kept as is; {problem} says
                # what is wrong with the time given
                raise ConfigError(msg("{name}: {problem}", name=name, problem=problem))
    kind = given["kind"]
    if kind is not None and kind not in RECORD_KINDS:
        raise ConfigError(
            msg("kind: {kind!r} is not one of {kinds}", kind=kind, kinds=", ".join(RECORD_KINDS))
        )
    return AuditFilter(
        given["recipient"], given["agreement"], given["subject"], given["event"],
        times["since"], times["until"], kind=kind,
    )  # fmt: skip


def matches(record: Mapping[str, Any], wanted: AuditFilter) -> bool:
    """Whether ``record`` meets every filter that is set."""
    return (
        (wanted.recipient is None or record["recipient"] == wanted.recipient)
        and (wanted.agreement is None or record["agreement_id"] == wanted.agreement)
        and (
            wanted.subject is None
            or wanted.subject in record["subjects"]
            or (wanted.subject_link is not None and wanted.subject_link in _links(record))
            or (
                wanted.subject_commitment is not None
                and wanted.subject_commitment in _links(record)
            )
        )
        and (wanted.event is None or record["event_id"] == wanted.event)
        and (wanted.since is None or record["disclosed_at"] >= wanted.since)
        and (wanted.until is None or record["disclosed_at"] < wanted.until)
        and (wanted.kind is None or (record.get("kind") or "disclosure") == wanted.kind)
    )


def _links(record: Mapping[str, Any]) -> list[str]:
    links = record.get("subject_links")
    return links if isinstance(links, list) else []


def stats(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Records per kind (every kind of RECORD_KINDS, zero included), disclosures in all, per
    recipient, per agreement and per day (UTC), and feedback per recipient (useful or not)."""
    total, recipients, agreements, days = 0, Counter[str](), Counter[str](), Counter[str]()
    kinds = Counter[str](dict.fromkeys(RECORD_KINDS, 0))
    feedback: dict[str, Counter[str]] = {}
    for record in records:
        kind = record.get("kind") or "disclosure"
        kinds[kind] += 1
        if kind == "feedback":
            answer = "useful" if record.get("useful") else "not useful"
            feedback.setdefault(record["recipient"], Counter())[answer] += 1
        if kind != "disclosure":
            continue
        total += 1
        recipients[record["recipient"]] += 1
        agreements[f"{record['agreement_id']} v{record['agreement_version']}"] += 1
        days[record["disclosed_at"].astimezone(UTC).date().isoformat()] += 1
    return stats_figures(total, kinds, recipients, agreements, days, feedback)


def stats_figures(
    total: int,
    kinds: Mapping[str, int],
    recipients: Mapping[str, int],
    agreements: Mapping[str, int],
    days: Mapping[str, int],
    feedback: Mapping[str, Mapping[str, int]],
) -> dict[str, Any]:
    """The figures of ``audit stats`` in one shape, from the log or from the index."""
    known = {kind: kinds.get(kind, 0) for kind in RECORD_KINDS}
    return {
        "disclosures": total,
        "per_kind": known | dict(sorted((k, n) for k, n in kinds.items() if k not in known)),
        "per_recipient": dict(sorted(recipients.items())),
        "per_agreement": dict(sorted(agreements.items())),
        "per_day": dict(sorted(days.items())),
        "feedback": {
            r: {"useful": c.get("useful", 0), "not useful": c.get("not useful", 0)}
            for r, c in sorted(feedback.items())
        },
    }


def export_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of an audit record: bytes as hex, times as ISO 8601."""
    row = dict(record)
    for key in _BYTES:
        row[key] = record[key].hex()
    for key in _TIMES:
        row[key] = format_time(record[key])
    return row


def import_row(row: Mapping[str, Any], label: str) -> dict[str, Any]:
    """An audit record from its export row; ConfigError naming ``label`` when malformed."""
    try:
        record = dict(row)
        for key in _BYTES:
            record[key] = bytes.fromhex(row[key])
        for key in _TIMES:
            record[key] = datetime.fromisoformat(row[key])
        return record
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            msg(
                "{label}: not an audit export row ({error_type}: {exc})",
                label=label,
                error_type=type(exc).__name__,
                exc=exc,
            )
        ) from exc


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Export rows as CSV, lists joined with ';'."""
    out = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        flat = {k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()}
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(flat))
            writer.writeheader()
        writer.writerow(flat)
    return out.getvalue()
