"""Shared builders for tests of the pure core: enriched reports and agreements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from streams.core.policy import Agreement, parse_agreement
from streams.core.report import validate_report
from tests.factories import NOW, incident


def enriched(country: str = "KZ", **overrides: Any) -> dict[str, Any]:
    """A decoded report as the route step sees it, enriched for ``country``."""
    record = validate_report(incident(**overrides), now=NOW)
    record["enrichment"] = {
        "country": country,
        "facility_name": "Facility",
        "security_level": "high",
        "subjects": [
            {"subject_id": s["subject_id"], "risk_level": "HIGH", "rftf": True}
            for s in record["subjects"]
        ],
        "duplicate_of": None,
        "correlated_with": [],
        "received_at": NOW,
    }
    return record


def make_agreement(
    *, valid_from: datetime | str = "2026-01-01T00:00:00Z", **overrides: Any
) -> Agreement:
    """A valid agreement, open to everything but what ``overrides`` restricts."""
    match = {"max_tlp": "AMBER+STRICT", "handling": ["P"]} | overrides.pop("match", {})
    raw: dict[str, Any] = {
        "id": "KZ-KNB-2026-01",
        "version": 3,
        "recipient": "kz-knb",
        "purpose": "prevention of terrorist offences",
        "legal_basis": "statute, article 1",
        "valid_from": valid_from,
        "valid_until": "2026-12-31T23:59:59Z",
        "revoked": False,
        "match": match,
        "disclose": [
            "event_id",
            "kind",
            "occurred_at",
            "facility_id",
            "category",
            "severity",
            "subjects",
            "narrative",
        ],
        "pseudonymise": ["subjects.subject_id"],
    } | overrides
    return parse_agreement(raw)
