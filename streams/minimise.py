"""Data minimisation: only the agreed fields leave the exchange, identifiers pseudonymised.

Pure: the pseudonymiser is a parameter (``streams.crypto.pseudonym`` keyed per recipient).
When the report's handling code is C its conditions always travel with the disclosure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streams.policy import Agreement
from streams.report import report_to_json

__all__ = ["minimise", "oversight_subjects"]

_EXCHANGE_FIELDS = ("country", "facility_name", "security_level", "correlated_with")


def minimise(
    report: Mapping[str, Any], agreement: Agreement, pseudonymise: Callable[[str], str]
) -> dict[str, Any]:
    """The payload for the recipient: the ``disclose`` fields of an enriched report only."""
    full = report_to_json(report)
    enrichment = full.get("enrichment") or {}
    wanted = set(agreement.disclose)
    hidden = set(agreement.pseudonymise)
    payload: dict[str, Any] = {}
    for field in agreement.disclose:
        if field in _EXCHANGE_FIELDS:
            payload[field] = enrichment.get(field)
        elif field == "subjects":
            payload["subjects"] = _subjects(full, enrichment, wanted, hidden, pseudonymise)
        elif "." not in field:
            payload[field] = full[field]
    for field in ("unit_id", "facility_id"):
        if field in hidden and field in payload:
            payload[field] = pseudonymise(payload[field])
    if full["grading"]["handling"] == "C":
        payload["handling_conditions"] = full["grading"]["conditions"]
    return payload


def _subjects(
    full: Mapping[str, Any],
    enrichment: Mapping[str, Any],
    wanted: set[str],
    hidden: set[str],
    pseudonymise: Callable[[str], str],
) -> list[dict[str, Any]]:
    known = {s["subject_id"]: s for s in enrichment.get("subjects", [])}
    out = []
    for subject in full["subjects"]:
        item: dict[str, Any] = {"subject_id": subject["subject_id"], "role": subject["role"]}
        info = known.get(subject["subject_id"], {})
        if "subjects.risk_level" in wanted:
            item["risk_level"] = info.get("risk_level")
        if "subjects.rftf" in wanted:
            item["rftf"] = info.get("rftf")
        if "subjects.subject_id" in hidden:
            item["subject_id"] = pseudonymise(subject["subject_id"])
        out.append(item)
    return out


def oversight_subjects(
    report: Mapping[str, Any], agreement: Agreement, pseudonymise: Callable[[str], str]
) -> list[str]:
    """Subjects as the oversight body may see them: as the recipient received them."""
    if "subjects" not in agreement.disclose:
        return []
    ids = [s["subject_id"] for s in report["subjects"]]
    if "subjects.subject_id" in agreement.pseudonymise:
        return [pseudonymise(i) for i in ids]
    return ids
