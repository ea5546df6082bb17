"""The report: its domain types, validation of the JSON form, and conversion to and from Avro.

``validate_report`` turns one JSON object (as ``intelshare submit`` accepts it) into the record
the codec writes, or raises :class:`ReportInvalidError` naming every field at fault. It is pure:
the clock is a parameter.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NewType

from streams.core.fields import EVENT_ID, Checker, show
from streams.core.times import format_time
from streams.errors import FieldProblem, ReportInvalidError
from streams.i18n import msg

__all__ = [
    "ENRICHED_FIELDS",
    "FIELDS",
    "MAX_LIST_ITEMS",
    "MAX_NARRATIVE_BYTES",
    "SUBJECT_DETAILS",
    "Assessment",
    "Category",
    "EventId",
    "Handling",
    "Kind",
    "Severity",
    "SubjectRole",
    "Tlp",
    "report_to_json",
    "validate_report",
]

EventId = NewType("EventId", str)

MAX_NARRATIVE_BYTES = 64 * 1024
"""Largest narrative, in UTF-8 bytes; a longer one is rejected, never truncated."""
MAX_LIST_ITEMS = 200
"""Most subjects or indicators in one report."""
MAX_TEXT = 2000
"""Longest short text (conditions, indicator codes and frameworks)."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future ``reported_at`` may be, for clocks that run fast."""


class Kind(enum.StrEnum):
    INCIDENT = "incident"
    OBSERVATION = "observation"


class Tlp(enum.StrEnum):
    """FIRST TLP 2.0 labels, in order of restriction (compare with :meth:`rank`)."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"

    @property
    def symbol(self) -> str:
        """The Avro enum symbol (``+`` is not allowed there)."""
        return self.value.replace("+", "_")

    @classmethod
    def from_symbol(cls, symbol: str) -> Tlp:
        return cls(symbol.replace("_", "+"))

    def rank(self) -> int:
        return list(Tlp).index(self)


class Assessment(enum.StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class Handling(enum.StrEnum):
    P = "P"
    C = "C"


class Category(enum.StrEnum):
    RECRUITMENT = "RECRUITMENT"
    RADICALISATION_ACTIVITY = "RADICALISATION_ACTIVITY"
    EXTREMIST_MATERIAL = "EXTREMIST_MATERIAL"
    VIOLENCE = "VIOLENCE"
    THREAT = "THREAT"
    CONTRABAND = "CONTRABAND"
    ILLICIT_COMMUNICATION = "ILLICIT_COMMUNICATION"
    ESCAPE_RISK = "ESCAPE_RISK"
    STAFF_CORRUPTION = "STAFF_CORRUPTION"
    DISORDER = "DISORDER"
    OTHER = "OTHER"


class Severity(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class SubjectRole(enum.StrEnum):
    SUBJECT = "SUBJECT"
    VICTIM = "VICTIM"
    ASSOCIATE = "ASSOCIATE"
    WITNESS = "WITNESS"
    VISITOR = "VISITOR"
    STAFF = "STAFF"
    OTHER = "OTHER"


class IndicatorRating(enum.StrEnum):
    LOW = "LOW"
    MODERATE = "MODERATE"
    HIGH = "HIGH"


FIELDS = (
    "event_id", "kind", "unit_id", "facility_id", "occurred_at", "reported_at", "tlp",
    "grading", "category", "severity", "subjects", "indicators", "narrative",
)  # fmt: skip
_GRADING_FIELDS = ("source", "assessment", "handling", "conditions")
ENRICHED_FIELDS = ("country", "facility_name", "security_level", "correlated_with")
"""Top-level fields the exchange's enrichment adds (``enrichment`` of report v2)."""
SUBJECT_DETAILS = ("risk_level", "rftf")
"""Per-subject fields the enrichment adds from the subjects' reference data."""


def validate_report(obj: object, *, now: datetime, label: str = "report") -> dict[str, Any]:
    """Check one report in JSON form; return the Avro record or raise ReportInvalidError.

    ``now`` (timezone-aware) bounds ``reported_at``; ``label`` names the report in messages.
    """
    check = Checker()
    if not isinstance(obj, dict):
        raise ReportInvalidError(
            [
                FieldProblem(
                    "report", msg("must be a JSON object, not {type}", type=type(obj).__name__)
                )
            ],
            label=label,
        )
    check.unknown(obj, FIELDS, "", msg("the report"))
    record: dict[str, Any] = {}
    # check.required's path defaults to its key, so the key given again below as the path,
    # None or no path are alike (mutation-equivalent)
    record["event_id"] = _event_id(check, check.required(obj, "event_id", "event_id"))
    kind = check.required(obj, "kind", "kind")
    record["kind"] = check.choice(kind, Kind, "kind") if kind is not None else None
    for key in ("unit_id", "facility_id"):
        value = check.required(obj, key, key)
        record[key] = check.identifier(value, key) if value is not None else None
    for key in ("occurred_at", "reported_at"):
        value = check.required(obj, key, key)
        record[key] = check.timestamp(value, key) if value is not None else None
    _check_times(check, record["occurred_at"], record["reported_at"], now)
    tlp = check.required(obj, "tlp", "tlp")
    parsed_tlp = check.choice(tlp, Tlp, "tlp") if tlp is not None else None
    record["tlp"] = parsed_tlp.symbol if parsed_tlp is not None else None
    record["grading"] = _grading(check, check.required(obj, "grading", "grading"))
    category = check.required(obj, "category", "category")
    record["category"] = (
        check.choice(category, Category, "category") if category is not None else None
    )
    record["severity"] = _severity(check, obj.get("severity"), record["kind"])
    record["subjects"] = _subjects(check, obj.get("subjects"))
    record["indicators"] = _indicators(check, obj.get("indicators"), record["kind"])
    narrative = check.required(obj, "narrative", "narrative")
    record["narrative"] = (
        check.text(narrative, "narrative", MAX_NARRATIVE_BYTES, unit="bytes", multiline=True)
        if narrative is not None
        else None
    )
    if check.problems:
        raise ReportInvalidError(check.problems, label=label)
    return {
        key: (value.value if isinstance(value, enum.Enum) else value)
        for key, value in record.items()
    }


def _event_id(check: Checker, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and EVENT_ID.fullmatch(value):
        return value.lower()  # the one rewrite: upper-case hex digits, as the README says
    check.fail(
        "event_id",
        msg(
            "{value} is not a UUID written as 8-4-4-4-12 hexadecimal digits, "
            "e.g. 0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60",
            value=show(value),
        ),
    )
    return None


def _check_times(
    check: Checker, occurred: datetime | None, reported: datetime | None, now: datetime
) -> None:
    if occurred is not None and reported is not None and occurred > reported:
        check.fail("occurred_at", msg("is after reported_at; a report cannot precede its event"))
    if reported is not None and reported > now + CLOCK_SKEW:
        check.fail("reported_at", msg("is in the future; check the unit's clock and time zone"))


def _grading(check: Checker, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.fail("grading", msg("must be an object with source, assessment and handling"))
        return None
    check.unknown(value, _GRADING_FIELDS, "grading.", msg("the grading"))
    source = check.required(value, "source", "grading.source")
    if source is not None and (type(source) is not int or source not in (1, 2, 3)):
        check.fail(
            "grading.source",
            msg(
                "{value} is not 1 (reliable), 2 (untested) or 3 (not reliable)", value=show(source)
            ),
        )
    assessment = check.required(value, "assessment", "grading.assessment")
    if assessment is not None:
        assessment = check.choice(assessment, Assessment, "grading.assessment")
    handling = check.required(value, "handling", "grading.handling")
    if handling is not None:
        handling = check.choice(handling, Handling, "grading.handling")
    conditions = value.get("conditions")
    if handling is Handling.C:
        if conditions is None:
            check.fail(
                "grading.conditions",
                msg("is required when handling is C: say which conditions apply"),
            )
        else:
            conditions = check.text(
                conditions, "grading.conditions", MAX_TEXT, unit="bytes", multiline=True
            )
    elif conditions is not None and handling is Handling.P:
        check.fail(
            "grading.conditions",
            msg("is given but handling is P; use handling C for conditions"),
        )
    return {
        "source": source,
        "assessment": assessment.value if isinstance(assessment, Assessment) else None,
        "handling": handling.value if isinstance(handling, Handling) else None,
        "conditions": conditions,
    }


def _severity(check: Checker, value: Any, kind: Kind | None) -> str | None:
    if value is None:
        if kind is Kind.INCIDENT:
            check.fail("severity", msg("is required for an incident"))
        return None
    parsed = check.choice(value, Severity, "severity")
    return parsed.value if parsed is not None else None


def _subjects(check: Checker, value: Any) -> list[dict[str, str]]:
    subjects: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(check.items(value, "subjects", MAX_LIST_ITEMS)):
        path = f"subjects[{i}]"
        if not isinstance(item, dict):
            check.fail(path, msg("must be an object with subject_id and role"))
            continue
        check.unknown(item, ("subject_id", "role"), f"{path}.", msg("a subject"))
        subject_id = check.identifier(item.get("subject_id"), f"{path}.subject_id")
        role = check.choice(item.get("role", "SUBJECT"), SubjectRole, f"{path}.role")
        if subject_id is None or role is None:
            continue
        if (subject_id, role) in seen:
            check.fail(
                path,
                msg("repeats subject {subject} as {role}", subject=subject_id, role=role.value),
            )
            continue
        seen.add((subject_id, role))
        subjects.append({"subject_id": subject_id, "role": role.value})
    return subjects


def _indicators(check: Checker, value: Any, kind: Kind | None) -> list[dict[str, Any]]:
    indicators: list[dict[str, Any]] = []
    for i, item in enumerate(check.items(value, "indicators", MAX_LIST_ITEMS)):
        path = f"indicators[{i}]"
        if not isinstance(item, dict):
            check.fail(
                path, msg("must be an object with code, and optionally framework and rating")
            )
            continue
        check.unknown(item, ("code", "framework", "rating"), f"{path}.", msg("an indicator"))
        code = check.text(item.get("code"), f"{path}.code", 64, unit="bytes")
        framework = item.get("framework")
        if framework is not None:
            framework = check.text(framework, f"{path}.framework", 64, unit="bytes")
        rating = item.get("rating")
        if rating is not None:
            rating = check.choice(rating, IndicatorRating, f"{path}.rating")
        indicators.append(
            {"code": code, "framework": framework, "rating": rating.value if rating else None}
        )
    if kind is Kind.OBSERVATION and value in (None, []):
        check.fail("indicators", msg("an observation must carry at least one indicator"))
    return indicators


_TO_JSON: dict[str, Callable[[Any], Any]] = {
    "occurred_at": format_time,
    "reported_at": format_time,
    "tlp": lambda s: Tlp.from_symbol(s).value,
}


def report_to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of a decoded report (the inverse of :func:`validate_report`).

    ``enrichment`` appears only when the exchange has set it, with its time in ISO form.
    """
    out = {
        key: _TO_JSON.get(key, _identity)(value)
        for key, value in record.items()
        if key != "enrichment"
    }
    enrichment = record.get("enrichment")
    if enrichment is not None:
        out["enrichment"] = dict(enrichment, received_at=format_time(enrichment["received_at"]))
    return out


def _identity(value: Any) -> Any:
    return value
