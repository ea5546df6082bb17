"""Sharing agreements and the routing policy (DESIGN.md, "Sharing agreements").

No agreement, no disclosure; only the listed fields leave the exchange; an expired,
not-yet-valid or revoked agreement discloses nothing; RED is never disclosed; a report marked
as a duplicate is not disclosed again. Pure: the clock is a parameter.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, NewType

from streams.errors import AgreementInvalidError, FieldProblem
from streams.report import Assessment, Category, Handling, Kind, Tlp

__all__ = [
    "DISCLOSABLE",
    "PSEUDONYMISABLE",
    "Agreement",
    "AgreementId",
    "AgreementMatch",
    "Decision",
    "agreement_from_record",
    "agreement_to_record",
    "decide",
    "parse_agreement",
    "route",
]

AgreementId = NewType("AgreementId", str)

DISCLOSABLE = (
    "event_id", "kind", "unit_id", "facility_id", "occurred_at", "reported_at", "tlp", "grading",
    "category", "severity", "subjects", "indicators", "narrative",
    "country", "facility_name", "security_level", "subjects.risk_level", "subjects.rftf",
    "correlated_with",
)  # fmt: skip
"""Fields an agreement may disclose: the report's, then those the exchange adds."""
PSEUDONYMISABLE = ("subjects.subject_id", "unit_id", "facility_id")
"""Identifiers an agreement may replace by per-recipient pseudonyms."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_AGENCY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_KEYS = (
    "id", "version", "recipient", "purpose", "legal_basis", "valid_from", "valid_until",
    "revoked", "match", "disclose", "pseudonymise",
)  # fmt: skip
_MATCH_KEYS = (
    "countries", "facilities", "kinds", "categories", "max_tlp", "sources", "assessments",
    "handling",
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class AgreementMatch:
    """Conditions a report must meet; an empty tuple matches anything."""

    countries: tuple[str, ...]
    facilities: tuple[str, ...]
    kinds: tuple[Kind, ...]
    categories: tuple[Category, ...]
    max_tlp: Tlp
    sources: tuple[int, ...]
    assessments: tuple[Assessment, ...]
    handling: tuple[Handling, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Agreement:
    """One written sharing agreement, at one version."""

    id: AgreementId
    version: int
    recipient: str
    purpose: str
    legal_basis: str
    valid_from: datetime
    valid_until: datetime
    revoked: bool
    match: AgreementMatch
    disclose: tuple[str, ...]
    pseudonymise: tuple[str, ...]


class Decision(NamedTuple):
    """Whether one agreement discloses one report, and the rule that decided."""

    disclose: bool
    """True when every rule holds."""
    reason: str
    """The first rule that failed, or "matches"."""


class _Problems(list[FieldProblem]):
    def add(self, field: str, reason: str) -> None:
        self.append(FieldProblem(field, reason))


def _text(obj: Mapping[str, Any], key: str, problems: _Problems, limit: int = 2000) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.add(key, "is required text")
        return ""
    if len(value) > limit:
        problems.add(key, f"is over {limit} characters")
        return ""
    return value


def _time(obj: Mapping[str, Any], key: str, problems: _Problems) -> datetime | None:
    value = obj.get(key)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        problems.add(key, "must be a time with a zone, e.g. 2026-01-01T00:00:00Z")
        return None
    return value


def _symbols(match: Mapping[str, Any], key: str, kind: Any, problems: _Problems) -> tuple[Any, ...]:
    values = match.get(key) or []
    if not isinstance(values, list):
        problems.add(f"match.{key}", "must be a list")
        return ()
    out = []
    for value in values:
        try:
            out.append(kind(value))
        except (ValueError, TypeError):
            allowed = ", ".join(str(m.value) if hasattr(m, "value") else str(m) for m in kind)
            problems.add(f"match.{key}", f"{value!r} is not one of {allowed}")
    return tuple(out)


def _ids(
    match: Mapping[str, Any], key: str, pattern: re.Pattern[str], problems: _Problems
) -> tuple[str, ...]:
    values = match.get(key) or []
    if not isinstance(values, list) or not all(
        isinstance(v, str) and pattern.fullmatch(v) for v in values
    ):
        problems.add(f"match.{key}", "must be a list of valid identifiers")
        return ()
    return tuple(values)


def _sources(match: Mapping[str, Any], problems: _Problems) -> tuple[int, ...]:
    values = match.get("sources") or []
    if not isinstance(values, list) or any(
        type(v) is not int or v not in (1, 2, 3) for v in values
    ):
        problems.add("match.sources", "must be a list of source evaluations 1, 2 or 3")
        return ()
    return tuple(values)


def _fields(
    obj: Mapping[str, Any], key: str, allowed: tuple[str, ...], problems: _Problems
) -> tuple[str, ...]:
    values = obj.get(key) or []
    if not isinstance(values, list):
        problems.add(key, "must be a list of field names")
        return ()
    for value in values:
        if value not in allowed:
            problems.add(key, f"{value!r} is not one of {', '.join(allowed)}")
    return tuple(v for v in values if v in allowed)


def parse_agreement(obj: object, label: str = "agreement") -> Agreement:
    """Validate one agreement mapping (YAML-loaded); AgreementInvalidError names every fault."""
    problems = _Problems()
    if not isinstance(obj, dict):
        raise AgreementInvalidError([FieldProblem("agreement", "must be a mapping")], label=label)
    for key in obj:
        if key not in _KEYS:
            problems.add(str(key)[:40], "is not a field of an agreement")
    agreement_id = obj.get("id")
    if not isinstance(agreement_id, str) or not _ID.fullmatch(agreement_id):
        problems.add("id", "must be 1-64 letters, digits, '.', '_' or '-'")
        agreement_id = ""
    else:
        label = f"{label} ({agreement_id})"
    version = obj.get("version")
    if type(version) is not int or version < 1:
        problems.add("version", "must be a whole number from 1, raised with every change")
        version = 0
    recipient = obj.get("recipient")
    if not isinstance(recipient, str) or not _AGENCY.fullmatch(recipient):
        problems.add("recipient", "must be an agency id: lower-case letters, digits and '-'")
        recipient = ""
    purpose = _text(obj, "purpose", problems)
    legal_basis = _text(obj, "legal_basis", problems)
    valid_from = _time(obj, "valid_from", problems)
    valid_until = _time(obj, "valid_until", problems)
    if valid_from and valid_until and valid_until <= valid_from:
        problems.add("valid_until", "must be after valid_from")
    revoked = obj.get("revoked", False)
    if not isinstance(revoked, bool):
        problems.add("revoked", "must be true or false")
    match = obj.get("match")
    if not isinstance(match, dict):
        problems.add("match", "is required: a mapping of conditions")
        match = {}
    for key in match:
        if key not in _MATCH_KEYS:
            problems.add(f"match.{str(key)[:40]}", "is not a condition of an agreement")
    max_tlp = Tlp.AMBER
    try:
        max_tlp = Tlp(str(match.get("max_tlp")))
    except ValueError:
        problems.add("match.max_tlp", "is required: CLEAR, GREEN, AMBER or AMBER+STRICT")
    if max_tlp is Tlp.RED:
        problems.add("match.max_tlp", "RED is never disclosed by an agreement")
    conditions = AgreementMatch(
        countries=_ids(match, "countries", _COUNTRY, problems),
        facilities=_ids(match, "facilities", _ID, problems),
        kinds=_symbols(match, "kinds", Kind, problems),
        categories=_symbols(match, "categories", Category, problems),
        max_tlp=max_tlp,
        sources=_sources(match, problems),
        assessments=_symbols(match, "assessments", Assessment, problems),
        handling=_symbols(match, "handling", Handling, problems),
    )
    disclose = _fields(obj, "disclose", DISCLOSABLE, problems)
    if not obj.get("disclose"):
        problems.add("disclose", "must list at least one field")
    pseudonymise = _fields(obj, "pseudonymise", PSEUDONYMISABLE, problems)
    for path in pseudonymise:
        if path.split(".")[0] not in disclose:
            problems.add("pseudonymise", f"{path} is not disclosed; disclose it or drop it")
    if problems:
        raise AgreementInvalidError(problems, label=label)
    assert valid_from is not None
    assert valid_until is not None
    return Agreement(
        AgreementId(agreement_id), version, recipient, purpose, legal_basis, valid_from,
        valid_until, revoked, conditions, disclose, pseudonymise,
    )  # fmt: skip


def agreement_to_record(agreement: Agreement) -> dict[str, Any]:
    """The Avro record (schemas/agreement.v1.avsc) of an agreement."""
    m = agreement.match
    return {
        "id": agreement.id,
        "version": agreement.version,
        "recipient": agreement.recipient,
        "purpose": agreement.purpose,
        "legal_basis": agreement.legal_basis,
        "valid_from": agreement.valid_from,
        "valid_until": agreement.valid_until,
        "revoked": agreement.revoked,
        "match": {
            "countries": list(m.countries),
            "facilities": list(m.facilities),
            "kinds": [k.value for k in m.kinds],
            "categories": [c.value for c in m.categories],
            "max_tlp": m.max_tlp.value,
            "sources": list(m.sources),
            "assessments": [a.value for a in m.assessments],
            "handling": [h.value for h in m.handling],
        },
        "disclose": list(agreement.disclose),
        "pseudonymise": list(agreement.pseudonymise),
    }


def agreement_from_record(record: Mapping[str, Any]) -> Agreement:
    """An agreement read back from intel.agreements, checked by the same rules."""
    return parse_agreement(dict(record, match=dict(record["match"])), "published agreement")


def decide(agreement: Agreement, report: Mapping[str, Any], now: datetime) -> Decision:
    """Apply every rule of the policy to one enriched report."""
    m = agreement.match
    enrichment = report.get("enrichment")
    tlp = Tlp.from_symbol(report["tlp"])
    grading = report["grading"]
    checks = (
        (agreement.revoked, "revoked"),
        (now < agreement.valid_from, "not yet valid"),
        (now >= agreement.valid_until, "expired"),
        (enrichment is None, "not enriched"),
        (tlp is Tlp.RED, "RED is never disclosed"),
        (enrichment is not None and enrichment["duplicate_of"] is not None, "duplicate"),
        (bool(m.countries) and (enrichment or {}).get("country") not in m.countries, "country"),
        (bool(m.facilities) and report["facility_id"] not in m.facilities, "facility"),
        (bool(m.kinds) and report["kind"] not in m.kinds, "kind"),
        (bool(m.categories) and report["category"] not in m.categories, "category"),
        (tlp.rank() > m.max_tlp.rank(), "tlp above max_tlp"),
        (bool(m.sources) and grading["source"] not in m.sources, "source"),
        (bool(m.assessments) and grading["assessment"] not in m.assessments, "assessment"),
        (grading["handling"] not in (m.handling or (Handling.P,)), "handling"),
    )
    for failed, reason in checks:
        if failed:
            return Decision(False, reason)
    return Decision(True, "matches")


def route(
    agreements: Iterable[Agreement], report: Mapping[str, Any], now: datetime
) -> list[Agreement]:
    """The agreements that disclose ``report`` now."""
    return [a for a in agreements if decide(a, report, now).disclose]
