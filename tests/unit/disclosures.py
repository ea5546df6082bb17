"""Opened disclosures built in-process, as ``intelshare consume`` prints them: for the tests
of the STIX, MISP and TAXII forms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.core.crypto import key_id
from streams.core.disclosure import build_disclosure, feed_entry, open_disclosure
from streams.core.policy import DISCLOSABLE, Agreement
from streams.core.report import validate_report
from tests.factories import NOW, incident, observation
from tests.unit.core import make_agreement

_SIGNING = Ed25519PrivateKey.generate()
_EXCHANGE_ID = key_id(_SIGNING.public_key().public_bytes_raw())
_PRIVATE = X25519PrivateKey.generate()
EVERYTHING = [f for f in DISCLOSABLE]
"""Every field an agreement may disclose."""


def enrich(report: dict[str, Any], correlated: list[str] | None = None) -> dict[str, Any]:
    """``report`` (JSON form) validated and enriched as the route step sees it."""
    record = validate_report(report, now=NOW)
    record["enrichment"] = {
        "country": "KZ",
        "facility_name": "Facility 1",
        "security_level": "high",
        "subjects": [
            {"subject_id": s["subject_id"], "risk_level": "HIGH", "rftf": True}
            for s in record["subjects"]
        ],
        "duplicate_of": None,
        "correlated_with": correlated or [],
        "received_at": NOW,
    }
    return record


def opened(
    report: dict[str, Any] | None = None,
    agreement: Agreement | None = None,
    correlated: list[str] | None = None,
) -> dict[str, Any]:
    """The consume form of the disclosure of ``report`` under ``agreement``."""
    agreement = agreement or make_agreement()
    return _opened_record(enrich(report or incident(), correlated), agreement)


def _opened_record(record: dict[str, Any], agreement: Agreement) -> dict[str, Any]:
    disclosure, _ = build_disclosure(
        record,
        agreement,
        recipient_public=_PRIVATE.public_key(),
        recipient_key_id=key_id(_PRIVATE.public_key().public_bytes_raw()),
        signing_key=_SIGNING,
        exchange_key_id=_EXCHANGE_ID,
        pseudonym_secret=bytes(32),
        now=NOW + timedelta(seconds=1),
    )
    payload = open_disclosure(disclosure, _PRIVATE, {_EXCHANGE_ID: _SIGNING.public_key()})
    return feed_entry(disclosure, payload)


def everything(**overrides: Any) -> Agreement:
    """An agreement that discloses every field and pseudonymises nothing."""
    return make_agreement(
        disclose=EVERYTHING, pseudonymise=[], match={"handling": ["P", "C"]}, **overrides
    )


def generated_set() -> list[dict[str, Any]]:
    """A varied set: incidents and observations, each TLP an agreement may disclose, handling
    P and C, pseudonymised or not, minimal or full agreements, correlated or not."""
    full, minimal = everything(), make_agreement(match={"handling": ["P", "C"]})
    found = []
    for tlp in ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT"):
        found.append(opened(incident(tlp=tlp), full))
        found.append(opened(observation(tlp=tlp), full, correlated=[incident()["event_id"]]))
        found.append(opened(incident(tlp=tlp, subjects=[]), minimal))
        found.append(opened(observation(tlp=tlp), minimal))
    return found


def demo_disclosures(count: int = 40) -> list[dict[str, Any]]:
    """The disclosures the demo's exchange makes (ops/demo: its seed, reference data, agreements
    and report generator), for its first ``count`` reports, built in-process."""
    import random

    from ops.demo import SEED
    from ops.demo_data import demo_agreements, of_type, reference_data
    from ops.demo_reports import demo_reports
    from streams.core.policy import parse_agreement, route

    rng = random.Random(SEED)
    reference = reference_data(rng)
    facilities = {f["facility_id"]: f for f in of_type(reference, "facility")}
    subjects = {s["subject_id"]: s for s in of_type(reference, "subject")}
    agreements = [parse_agreement(a) for a in demo_agreements(NOW)]
    made = demo_reports(
        rng, of_type(reference, "facility"), of_type(reference, "subject"), count, now=NOW
    )
    found = []
    for report in made.reports:
        record = _demo_enriched(report, facilities, subjects)
        for agreement in route(agreements, record, NOW):
            found.append(_opened_record(record, agreement))
    return found


def _demo_enriched(
    report: dict[str, Any], facilities: dict[str, Any], subjects: dict[str, Any]
) -> dict[str, Any]:
    record = validate_report(report, now=NOW)
    facility = facilities[record["facility_id"]]
    record["enrichment"] = {
        "country": facility["country"],
        "facility_name": facility["name"],
        "security_level": facility["security_level"],
        "subjects": [
            {
                "subject_id": s["subject_id"],
                "risk_level": subjects.get(s["subject_id"], {}).get("risk_level"),
                "rftf": subjects.get(s["subject_id"], {}).get("rftf"),
            }
            for s in record["subjects"]
        ],
        "duplicate_of": None,
        "correlated_with": [],
        "received_at": NOW,
    }
    return record
