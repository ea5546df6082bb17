"""Sharing agreements and the routing policy (DESIGN.md, "Sharing agreements").

No agreement, no disclosure; only the listed fields leave the exchange; an expired,
not-yet-valid or revoked agreement discloses nothing; RED is never disclosed; a report marked
as a duplicate is not disclosed again. Pure: the clock is a parameter.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, NewType, TypeVar

from streams.errors import AgreementInvalidError, FieldProblem
from streams.report import Assessment, Category, Handling, Kind, Tlp

__all__ = [
    "AGREEMENT_FIELDS",
    "DISCLOSABLE",
    "MATCH_FIELDS",
    "PSEUDONYMISABLE",
    "AgencyId",
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
AgencyId = NewType("AgencyId", str)

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
_AGENCY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # as streams.topics.feed_topic accepts
_COUNTRY = re.compile(r"[A-Z]{2}")
_MAX_TEXT = 2000
_MAX_INT = 2**31 - 1  # Avro int
AGREEMENT_FIELDS = (
    "id", "version", "recipient", "purpose", "legal_basis", "valid_from", "valid_until",
    "revoked", "match", "disclose", "pseudonymise",
)  # fmt: skip
MATCH_FIELDS = (
    "countries", "facilities", "kinds", "categories", "max_tlp", "sources", "assessments",
    "handling",
)  # fmt: skip
_E = TypeVar("_E", bound=enum.StrEnum)


@dataclasses.dataclass(frozen=True, slots=True)
class AgreementMatch:
    """Conditions a report must meet; an empty tuple matches anything (but see ``handling``)."""

    countries: tuple[str, ...]
    facilities: tuple[str, ...]
    kinds: tuple[Kind, ...]
    categories: tuple[Category, ...]
    max_tlp: Tlp
    sources: tuple[int, ...]
    assessments: tuple[Assessment, ...]
    handling: tuple[Handling, ...]
    """Empty means P only: handling C is disclosed only where the agreement lists C."""


@dataclasses.dataclass(frozen=True, slots=True)
class Agreement:
    """One written sharing agreement, at one version; times are UTC, to the millisecond."""

    id: AgreementId
    version: int
    recipient: AgencyId
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


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Problems(list[FieldProblem]):
    """Every fault found in one agreement; each reader returns a safe value and records why."""

    def add(self, field: str, reason: str) -> None:
        self.append(FieldProblem(field, reason))

    def text(self, obj: Mapping[str, Any], key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            self.add(key, "is required text")
        elif len(value) > _MAX_TEXT:
            self.add(key, f"is over {_MAX_TEXT} characters")
        elif not value.replace("\n", " ").replace("\t", " ").isprintable():
            self.add(key, "holds control characters or invalid text")
        else:
            return value
        return ""

    def time(self, obj: Mapping[str, Any], key: str) -> datetime | None:
        value = obj.get(key)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                value = None
        if not isinstance(value, datetime) or value.tzinfo is None:
            self.add(key, "must be a time with a zone, e.g. 2026-01-01T00:00:00Z")
            return None
        value = value.astimezone(UTC)  # as Avro gives it back: UTC, whole milliseconds
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    def values(self, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
        values = obj.get(key)
        if values is None:
            return []
        if not isinstance(values, list):
            self.add(path, "must be a list")
            return []
        return values

    def symbols(self, match: Mapping[str, Any], key: str, kind: type[_E]) -> tuple[_E, ...]:
        out = []
        for value in self.values(match, key, f"match.{key}"):
            try:
                out.append(kind(value))
            except (ValueError, TypeError):
                allowed = ", ".join(m.value for m in kind)
                self.add(f"match.{key}", f"{_show(value)} is not one of {allowed}")
        return tuple(out)

    def ids(self, match: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
        values = self.values(match, key, f"match.{key}")
        for value in values:
            if not isinstance(value, str) or not pattern.fullmatch(value):
                self.add(f"match.{key}", f"{_show(value)} is not a valid identifier")
        return tuple(v for v in values if isinstance(v, str) and pattern.fullmatch(v))

    def sources(self, match: Mapping[str, Any]) -> tuple[int, ...]:
        values = self.values(match, "sources", "match.sources")
        for value in values:
            if type(value) is not int or value not in (1, 2, 3):
                self.add("match.sources", f"{_show(value)} is not a source evaluation 1, 2 or 3")
        return tuple(v for v in values if type(v) is int and v in (1, 2, 3))

    def max_tlp(self, match: Mapping[str, Any]) -> Tlp:
        value = match.get("max_tlp")
        try:
            tlp = Tlp.from_symbol(value if isinstance(value, str) else "")
        except ValueError:
            self.add("match.max_tlp", "is required: CLEAR, GREEN, AMBER or AMBER+STRICT")
            return Tlp.CLEAR
        if tlp is Tlp.RED:
            self.add("match.max_tlp", "RED is never disclosed by an agreement")
        return tlp

    def fields(self, obj: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        kept: list[str] = []
        for value in self.values(obj, key, key):
            if value not in allowed:
                self.add(key, f"{_show(value)} is not one of {', '.join(allowed)}")
            elif value in kept:
                self.add(key, f"{value} is listed twice")
            else:
                kept.append(value)
        return tuple(kept)


def parse_agreement(obj: object, label: str = "agreement") -> Agreement:
    """Validate one agreement mapping (YAML-loaded); AgreementInvalidError names every fault."""
    if not isinstance(obj, Mapping):
        raise AgreementInvalidError([FieldProblem("agreement", "must be a mapping")], label=label)
    problems = _Problems()
    for key in obj:
        if key not in AGREEMENT_FIELDS:
            problems.add(str(key)[:40], "is not a field of an agreement")
    agreement_id = obj.get("id")
    if not isinstance(agreement_id, str) or not _ID.fullmatch(agreement_id):
        problems.add("id", "must be 1-64 letters, digits, '.', '_' or '-'")
        agreement_id = ""
    else:
        label = f"{label} ({agreement_id})"
    version = obj.get("version")
    if type(version) is not int or not 1 <= version <= _MAX_INT:
        problems.add("version", "must be a whole number from 1, raised with every change")
        version = 0
    recipient = obj.get("recipient")
    if not isinstance(recipient, str) or not _AGENCY.fullmatch(recipient):
        problems.add("recipient", "must be an agency id: 1-63 lower-case letters, digits or '-'")
        recipient = ""
    purpose = problems.text(obj, "purpose")
    legal_basis = problems.text(obj, "legal_basis")
    valid_from = problems.time(obj, "valid_from")
    valid_until = problems.time(obj, "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        problems.add("valid_until", "must be after valid_from")
    revoked = obj.get("revoked", False)
    if not isinstance(revoked, bool):
        problems.add("revoked", "must be true or false")
    match = obj.get("match")
    if not isinstance(match, Mapping):
        problems.add("match", "is required: a mapping of conditions")
        match = {}
    for key in match:
        if key not in MATCH_FIELDS:
            problems.add(f"match.{str(key)[:40]}", "is not a condition of an agreement")
    conditions = AgreementMatch(
        countries=problems.ids(match, "countries", _COUNTRY),
        facilities=problems.ids(match, "facilities", _ID),
        kinds=problems.symbols(match, "kinds", Kind),
        categories=problems.symbols(match, "categories", Category),
        max_tlp=problems.max_tlp(match),
        sources=problems.sources(match),
        assessments=problems.symbols(match, "assessments", Assessment),
        handling=problems.symbols(match, "handling", Handling),
    )
    disclose = problems.fields(obj, "disclose", DISCLOSABLE)
    if not obj.get("disclose"):
        problems.add("disclose", "must list at least one field")
    for path in disclose:
        if path.startswith("subjects.") and "subjects" not in disclose:
            problems.add("disclose", f"{path} needs subjects disclosed too")
    pseudonymise = problems.fields(obj, "pseudonymise", PSEUDONYMISABLE)
    for path in pseudonymise:
        if path.split(".")[0] not in disclose:
            problems.add("pseudonymise", f"{path} is not disclosed; disclose it or drop it")
    if "facility_id" in pseudonymise and "facility_name" in disclose:
        problems.add("pseudonymise", "facility_id is pseudonymised but facility_name names it")
    if problems or valid_from is None or valid_until is None:
        raise AgreementInvalidError(problems, label=label)
    return Agreement(
        AgreementId(agreement_id), version, AgencyId(recipient), purpose, legal_basis,
        valid_from, valid_until, revoked, conditions, disclose, pseudonymise,
    )  # fmt: skip


def agreement_to_record(agreement: Agreement) -> dict[str, Any]:
    """The Avro record (schemas/agreement.v1.avsc); ``max_tlp`` as its label, e.g. AMBER+STRICT."""
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
    return parse_agreement(record, "published agreement")


def _allowed(values: tuple[Any, ...], value: object) -> bool:
    return not values or value in values


def _rules(
    agreement: Agreement, report: Mapping[str, Any], now: datetime
) -> Iterator[tuple[bool, str]]:
    """Each rule in order, as (holds, name); lazily, so a rule may rely on those before it."""
    m = agreement.match
    yield not agreement.revoked, "revoked"
    yield now >= agreement.valid_from, "not yet valid"
    yield now < agreement.valid_until, "expired"
    enrichment = report.get("enrichment")
    yield enrichment is not None, "not enriched"
    if enrichment is None:
        return
    yield _allowed(m.countries, enrichment["country"]), "country"
    yield _allowed(m.facilities, report["facility_id"]), "facility"
    yield _allowed(m.kinds, report["kind"]), "kind"
    yield _allowed(m.categories, report["category"]), "category"
    tlp = Tlp.from_symbol(report["tlp"])
    yield tlp is not Tlp.RED, "RED is never disclosed"
    yield tlp.rank() <= m.max_tlp.rank(), "tlp above max_tlp"
    grading = report["grading"]
    yield _allowed(m.sources, grading["source"]), "source"
    yield _allowed(m.assessments, grading["assessment"]), "assessment"
    yield grading["handling"] in (m.handling or (Handling.P,)), "handling"
    yield enrichment["duplicate_of"] is None, "duplicate"


def decide(agreement: Agreement, report: Mapping[str, Any], now: datetime) -> Decision:
    """Apply every rule of the policy to one enriched report; name the first that fails."""
    for holds, rule in _rules(agreement, report, now):
        if not holds:
            return Decision(False, rule)
    return Decision(True, "matches")


def route(
    agreements: Iterable[Agreement], report: Mapping[str, Any], now: datetime
) -> list[Agreement]:
    """The agreements that disclose ``report`` now."""
    return [a for a in agreements if decide(a, report, now).disclose]
