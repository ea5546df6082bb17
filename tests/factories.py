"""Report and agency-record factories shared by unit and integration tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AGENCY_KEY = bytes(range(1, 33))
"""A raw 32-byte public key for agency records (not a real agency's)."""


def incident(**overrides: Any) -> dict[str, Any]:
    """A valid incident report in JSON form, as a unit would submit it."""
    report: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "kind": "incident",
        "unit_id": "TJ-PIU-DUSHANBE",
        "facility_id": "TJ-F-001",
        "occurred_at": "2026-11-20T14:05:00Z",
        "reported_at": "2026-11-20T16:40:00Z",
        "tlp": "AMBER",
        "grading": {"source": 2, "assessment": "B", "handling": "P", "conditions": None},
        "category": "RECRUITMENT",
        "severity": "HIGH",
        "subjects": [{"subject_id": "TJ-P-004211", "role": "SUBJECT"}],
        "indicators": [],
        "narrative": "Inmate approached two younger prisoners in the exercise yard.",
    }
    report.update(overrides)
    return report


def observation(**overrides: Any) -> dict[str, Any]:
    """A valid observation report carrying structured-professional-judgement indicators."""
    report = incident(
        kind="observation",
        severity=None,
        category="RADICALISATION_ACTIVITY",
        tlp="AMBER+STRICT",
        grading={
            "source": 1,
            "assessment": "A",
            "handling": "C",
            "conditions": "no onward sharing",
        },
        indicators=[
            {"code": "ERG-13", "framework": "ERG22+", "rating": "HIGH"},
            {"code": "isolation", "framework": None, "rating": None},
        ],
    )
    report.update(overrides)
    return report


def agency_record(**overrides: Any) -> dict[str, Any]:
    """An intel.ref.agencies record (schemas/agency.v2.avsc) of kz-knb, without a receipt key."""
    from streams.core.crypto import key_id

    base = {
        "agency_id": "kz-knb",
        "name": "National Security Committee",
        "country": "KZ",
        "public_key": AGENCY_KEY,
        "key_id": key_id(AGENCY_KEY),
        "registered_at": NOW,
        "signing_key": b"",
    }
    return base | overrides


# RUF001: Cyrillic letters that look Latin are the point of these texts
NARRATIVES = {
    "ckb": "زیندانی ڕۆژی ٢٠ی تشرینی دووەم لە هۆڵی ێ و ڵ قسەی\u200cکرد؛ پەیوەندی بە کەسێکی دەرەوە.\n"
    "سەرچاوە: ئاگادارکردنەوەی ڕاستەوخۆ.",
    "ru": "Осуждённый «К.» передал записку через посредника; ёмкость — 2 листа.\tПроверено.",  # noqa: RUF001
    "tg": "Маҳбус ғоибона бо шахси берунӣ ҳамкорӣ карда, қарори ӯ ҷиддӣ аст: ғ ӣ қ ӯ ҳ ҷ.",  # noqa: RUF001
}
"""Central Kurdish (Arabic script, with ڕ ۆ ێ ڵ, Arabic-Indic digits and a zero-width
non-joiner), Russian and Tajik Cyrillic (ғ ӣ қ ӯ ҳ ҷ): they must come out of the recipient's
consume and its STIX export exactly as submitted."""
