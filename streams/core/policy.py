"""Sharing agreements and the routing policy (DESIGN.md, "Sharing agreements").

No agreement, no disclosure; only the listed fields leave the exchange; an expired,
not-yet-valid or revoked agreement discloses nothing; RED is never disclosed; a report marked
as a duplicate is not disclosed again. Pure: the clock is a parameter.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple, NewType, TypeVar

from streams.core.fields import Checker, show
from streams.core.report import (
    ENRICHED_FIELDS,
    FIELDS,
    SUBJECT_DETAILS,
    Assessment,
    Category,
    Handling,
    Kind,
    Tlp,
)
from streams.core.times import to_millis
from streams.errors import AgreementInvalidError, FieldProblem
from streams.i18n import msg

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
    *FIELDS,
    *ENRICHED_FIELDS[:3],
    *(f"subjects.{detail}" for detail in SUBJECT_DETAILS),
    *ENRICHED_FIELDS[3:],
)
"""Fields an agreement may disclose: the report's, then those the exchange adds."""
PSEUDONYMISABLE = ("subjects.subject_id", "unit_id", "facility_id")
"""Identifiers an agreement may replace by per-recipient pseudonyms."""

SOURCES = (1, 2, 3)
"""Source evaluations of the 3x5x2 grading."""
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
_Reader = Callable[[Checker, Any, str], str | None]


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

    def state(self, now: datetime) -> str:
        """``revoked``, ``not-yet-valid``, ``expired`` or ``active`` at ``now``."""
        if self.revoked:
            return "revoked"
        if now < self.valid_from:
            return "not-yet-valid"
        return "expired" if now >= self.valid_until else "active"


class Decision(NamedTuple):
    """Whether one agreement discloses one report, and the rule that decided."""

    disclose: bool
    """True when every rule holds."""
    reason: str
    """The first rule that failed, or "matches"."""


def _text(check: Checker, obj: Mapping[str, Any], key: str) -> str:
    # "" only where a problem is recorded, so it is never used (mutation-equivalent: any text)
    value = obj.get(key)
    if value is None:
        check.fail(key, msg("is required text"))
        return ""
    return check.text(value, key, _MAX_TEXT, multiline=True) or ""


def _time(check: Checker, obj: Mapping[str, Any], key: str) -> datetime | None:
    moment = check.timestamp(obj.get(key), key)
    return to_millis(moment) if moment is not None else None  # as Avro gives it back


def _values(check: Checker, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    values = obj.get(key)
    if values is None:
        return []
    if not isinstance(values, list):
        check.fail(path, msg("must be a list"))
        return []
    return values


def _symbols(check: Checker, match: Mapping[str, Any], key: str, kind: type[_E]) -> tuple[_E, ...]:
    chosen = (
        check.choice(v, kind, f"match.{key}") for v in _values(check, match, key, f"match.{key}")
    )
    return tuple(v for v in chosen if v is not None)


def _ids(check: Checker, match: Mapping[str, Any], key: str, read: _Reader) -> tuple[str, ...]:
    values = _values(check, match, key, f"match.{key}")
    return tuple(v for v in (read(check, value, f"match.{key}") for value in values) if v)


def _sources(check: Checker, match: Mapping[str, Any]) -> tuple[int, ...]:
    values = _values(check, match, "sources", "match.sources")
    for value in values:
        if type(value) is not int or value not in SOURCES:
            check.fail(
                "match.sources",
                msg("{value} is not a source evaluation 1, 2 or 3", value=show(value, 40)),
            )
    # any other value was named above, so parse_agreement raises (mutation-equivalent: or)
    return tuple(v for v in values if type(v) is int and v in SOURCES)


def _max_tlp(check: Checker, match: Mapping[str, Any]) -> Tlp:
    value = match.get("max_tlp")
    try:
        # "" fails as any non-TLP text would (mutation-equivalent)
        tlp = Tlp.from_symbol(value if isinstance(value, str) else "")
    except ValueError:
        check.fail("match.max_tlp", msg("is required: CLEAR, GREEN, AMBER or AMBER+STRICT"))
        return Tlp.CLEAR
    if tlp is Tlp.RED:
        check.fail("match.max_tlp", msg("RED is never disclosed by an agreement"))
    return tlp


def _fields(
    check: Checker, obj: Mapping[str, Any], key: str, allowed: tuple[str, ...]
) -> tuple[str, ...]:
    kept: list[str] = []
    for value in _values(check, obj, key, key):
        if value not in allowed:
            check.fail(
                key,
                msg(
                    "{value} is not one of {allowed}",
                    value=show(value, 40),
                    allowed=", ".join(allowed),
                ),
            )
        elif value in kept:
            check.fail(key, msg("{value} is listed twice", value=value))
        else:
            kept.append(value)
    return tuple(kept)


def parse_agreement(obj: object, label: str = "agreement") -> Agreement:
    """Validate one agreement mapping (YAML-loaded); AgreementInvalidError names every fault."""
    if not isinstance(obj, Mapping):
        raise AgreementInvalidError(
            [FieldProblem("agreement", msg("must be a mapping"))], label=label
        )
    check = Checker()
    for key in obj:
        if key not in AGREEMENT_FIELDS:
            check.fail(str(key)[:40], msg("is not a field of an agreement"))
    agreement_id = check.identifier(obj.get("id"), "id") or ""
    if agreement_id:
        label = f"{label} ({agreement_id})"
    version = obj.get("version")
    if type(version) is not int or not 1 <= version <= _MAX_INT:
        check.fail("version", msg("must be a whole number from 1, raised with every change"))
        version = 0  # never used: a problem is recorded (mutation-equivalent: any value)
    # "" only where a problem is recorded, so never used (mutation-equivalent: any text)
    recipient = check.agency_id(obj.get("recipient"), "recipient") or ""
    purpose = _text(check, obj, "purpose")
    legal_basis = _text(check, obj, "legal_basis")
    valid_from = _time(check, obj, "valid_from")
    valid_until = _time(check, obj, "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        check.fail("valid_until", msg("must be after valid_from"))
    revoked = obj.get("revoked", False)
    if not isinstance(revoked, bool):
        check.fail("revoked", msg("must be true or false"))
    match = obj.get("match")
    if not isinstance(match, Mapping):
        check.fail("match", msg("is required: a mapping of conditions"))
        match = {}
    for key in match:
        if key not in MATCH_FIELDS:
            check.fail(f"match.{str(key)[:40]}", msg("is not a condition of an agreement"))
    conditions = AgreementMatch(
        countries=_ids(check, match, "countries", Checker.country),
        facilities=_ids(check, match, "facilities", Checker.identifier),
        kinds=_symbols(check, match, "kinds", Kind),
        categories=_symbols(check, match, "categories", Category),
        max_tlp=_max_tlp(check, match),
        sources=_sources(check, match),
        assessments=_symbols(check, match, "assessments", Assessment),
        handling=_symbols(check, match, "handling", Handling),
    )
    disclose = _fields(check, obj, "disclose", DISCLOSABLE)
    if not obj.get("disclose"):
        check.fail("disclose", msg("must list at least one field"))
    for path in disclose:
        if path.startswith("subjects.") and "subjects" not in disclose:
            check.fail("disclose", msg("{path} needs subjects disclosed too", path=path))
    pseudonymise = _fields(check, obj, "pseudonymise", PSEUDONYMISABLE)
    for path in pseudonymise:
        if path.split(".")[0] not in disclose:
            check.fail(
                "pseudonymise", msg("{path} is not disclosed; disclose it or drop it", path=path)
            )
    if "facility_id" in pseudonymise and "facility_name" in disclose:
        check.fail("pseudonymise", msg("facility_id is pseudonymised but facility_name names it"))
    # a missing time is always a problem too: the None tests are for the type checker only
    # (mutation-equivalent: "and" for the second "or")
    if check or valid_from is None or valid_until is None:
        raise AgreementInvalidError(check.problems, label=label)
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
