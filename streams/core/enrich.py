"""Enrichment: add the facility's country, name and security level and, per subject, the current
risk level and whether the person is a returning foreign terrorist fighter.

Pure: the reference data is passed in as lookups. A facility the exchange does not know is a
dead letter (load it with ``intelshare reference load``, then ``intelshare deadletter replay``),
because without a country no agreement can be applied to the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from streams.core.dedup import Verdict
from streams.errors import FieldProblem, ReportInvalidError
from streams.i18n import msg

__all__ = ["enrich", "facility_of"]

Lookup = Callable[[str], Mapping[str, Any] | None]


def facility_of(report: Mapping[str, Any], facilities: Lookup) -> Mapping[str, Any]:
    """The report's facility; ReportInvalidError (a dead letter) when it is not known."""
    facility = facilities(report["facility_id"])
    if facility is None:
        problem = FieldProblem(
            "facility_id",
            msg(
                "{facility_id} is not in the reference data; load it with `intelshare reference "
                "load`, then `intelshare deadletter replay`",
                facility_id=report["facility_id"],
            ),
        )
        raise ReportInvalidError([problem])
    return facility


def enrich(
    report: Mapping[str, Any],
    *,
    facility: Mapping[str, Any],
    subjects: Lookup,
    verdict: Verdict,
    now: datetime,
) -> dict[str, Any]:
    """The report with ``enrichment`` set from its facility, subjects and dedup verdict."""
    people = []
    for subject in report["subjects"]:
        known = subjects(subject["subject_id"])
        people.append(
            {
                "subject_id": subject["subject_id"],
                "risk_level": known.get("risk_level") if known else None,
                "rftf": known.get("rftf") if known else None,
            }
        )
    return dict(
        report,
        enrichment={
            "country": facility["country"],
            "facility_name": facility["name"],
            "security_level": facility["security_level"],
            "subjects": people,
            "duplicate_of": verdict.duplicate_of,
            "correlated_with": list(verdict.correlated_with),
            "received_at": now,
        },
    )
