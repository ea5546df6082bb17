"""A disclosure as one MISP event, built with pymisp (we do not write MISP JSON by hand).

Pure: the input is the JSON object ``intelshare consume`` prints, already verified and
decrypted. Only what the payload holds is mapped, so a field the agreement did not disclose
appears in no form; pseudonyms are mapped as they are. The event carries one
``intelligence-report`` object, one ``person`` object per subject, a ``tlp:`` tag from MISP's
tlp taxonomy and, when the grading is disclosed, ``3x5x2:`` tags from the taxonomy shipped in
``schemas/misp/3x5x2/machinetag.json`` (MISP has none for 3x5x2).

The event's uuid is the disclosure id, and every object's and attribute's uuid is derived
from it, so exporting the same disclosure twice gives the same event and MISP updates it
instead of adding a copy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymisp import MISPEvent, MISPObject

from streams.core.report import Tlp
from streams.core.times import parse_time
from streams.formats.stix import UNDISCLOSED_TLP, disclosure_tlp
from streams.settings import PROJECT_ROOT

__all__ = [
    "DISTRIBUTION",
    "TAXONOMY_FILE",
    "THREAT_LEVEL",
    "disclosure_event",
    "event_text",
    "grading_tags",
    "tlp_tag",
]

TAXONOMY_FILE = PROJECT_ROOT / "schemas" / "misp" / "3x5x2" / "machinetag.json"
"""The MISP taxonomy of the 3x5x2 grading, shipped with intelshare."""
DISTRIBUTION = {
    Tlp.CLEAR: 1,
    Tlp.GREEN: 1,
    Tlp.AMBER: 0,
    Tlp.AMBER_STRICT: 0,
    Tlp.RED: 0,
}
"""MISP distribution by TLP: 0 "your organisation only", 1 "this community only". Never 2 or 3
(connected or all communities): a disclosure is personal data given to one agency under an
agreement, so even TLP:CLEAR does not leave the agency's own MISP community."""
THREAT_LEVEL = {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
"""MISP threat_level_id by severity (1 high, 2 medium, 3 low); 4 (undefined) without one."""
_ANALYSIS_COMPLETED = 2
"""A disclosed report is a finished product."""


def tlp_tag(tlp: Tlp) -> str:
    """The tag of MISP's tlp taxonomy, e.g. ``tlp:amber+strict``."""
    return f"tlp:{tlp.value.lower()}"


def grading_tags(grading: Mapping[str, Any]) -> list[str]:
    """The tags of the shipped 3x5x2 taxonomy, e.g. ``3x5x2:source="2"``."""
    return [
        f'3x5x2:{predicate}="{grading[predicate]}"'
        for predicate in ("source", "assessment", "handling")
    ]


def _uuid(ident: str, *parts: object) -> str:
    return str(uuid.uuid5(uuid.UUID(ident), "|".join(map(str, parts))))


def _time(value: str) -> datetime:
    _, moment = parse_time(value)
    assert moment is not None, value  # the payload's times are the exchange's own
    return moment


def _add(obj: MISPObject, relation: str, value: Any, **kwargs: Any) -> None:
    attribute = obj.add_attribute(relation, value=value, **kwargs)
    if attribute is None:  # pymisp drops an empty value; the payload's never are
        return
    count = sum(1 for a in obj.attributes if a.object_relation == relation)
    attribute.uuid = _uuid(obj.uuid, relation, count)


def _report_object(disclosure: Mapping[str, Any], tlp: Tlp) -> MISPObject:
    payload: Mapping[str, Any] = disclosure["payload"]
    obj = MISPObject("intelligence-report", standalone=False)
    obj.uuid = _uuid(disclosure["disclosure_id"], "intelligence-report")
    _add(obj, "report-id", disclosure["event_id"])
    _add(obj, "report-number", disclosure["disclosure_id"])
    _add(obj, "classification", f"TLP:{tlp.value}")
    _add(obj, "disseminated-to", disclosure["recipient"])
    _add(obj, "dissemination-time", _time(disclosure["disclosed_at"]))
    _add(obj, "sources", f"agreement {disclosure['agreement_id']} version "
         f"{disclosure['agreement_version']}")  # fmt: skip
    for relation, field in (("report-type", "kind"), ("reporting-unit", "unit_id")):
        if payload.get(field) is not None:
            _add(obj, relation, payload[field])
    for relation, field in (("activity-time", "occurred_at"), ("date-time", "reported_at")):
        if payload.get(field) is not None:
            _add(obj, relation, _time(payload[field]))
    if payload.get("narrative") is not None:
        _add(obj, "narrative", payload["narrative"])
    grading = payload.get("grading")
    if grading is not None:
        evaluation = f"{grading['source']}{grading['assessment']}{grading['handling']}"
        _add(obj, "evaluation", f"3x5x2 {evaluation}")
    if payload.get("handling_conditions") is not None:
        _add(obj, "handling-instructions", payload["handling_conditions"])
    for event in payload.get("correlated_with") or ():
        _add(obj, "related-report", event)
    if "tlp" not in payload:
        _add(obj, "comment", f"tlp: not disclosed; marked {UNDISCLOSED_TLP.value}, the most "
             "restrictive an agreement discloses")  # fmt: skip
    for comment in _comments(payload):
        _add(obj, "comment", comment)
    return obj


def _comments(payload: Mapping[str, Any]) -> list[str]:
    """The fields the intelligence-report template has no attribute for, as ``name: value``."""
    found = [
        f"{field}: {payload[field]}"
        for field in (
            "category",
            "severity",
            "facility_id",
            "facility_name",
            "country",
            "security_level",
        )
        if payload.get(field) is not None
    ]
    for indicator in payload.get("indicators") or ():
        extra = [indicator.get("framework"), indicator.get("rating")]
        found.append(" ".join(["indicator:", indicator["code"], *filter(None, extra)]))
    return found


def _person(ident: str, number: int, subject: Mapping[str, Any]) -> MISPObject:
    obj = MISPObject("person", standalone=False)
    obj.uuid = _uuid(ident, "person", number)
    _add(obj, "alias", subject["subject_id"])
    _add(obj, "role", subject["role"])
    details = [
        f"{k}: {json.dumps(subject[k])}"
        for k in ("risk_level", "rftf")
        if subject.get(k) is not None
    ]
    if details:
        _add(obj, "text", "; ".join(details))
    return obj


def disclosure_event(disclosure: Mapping[str, Any]) -> MISPEvent:
    """The MISP event of one opened disclosure (as ``consume`` prints it)."""
    payload: Mapping[str, Any] = disclosure["payload"]
    tlp = disclosure_tlp(payload)
    event = MISPEvent()
    event.uuid = disclosure["disclosure_id"]
    what = " ".join(str(payload[f]) for f in ("kind", "category") if payload.get(f) is not None)
    event.info = f"intelshare {what or 'disclosure'} {disclosure['event_id']}"
    event.date = _time(payload.get("occurred_at") or disclosure["disclosed_at"]).date()
    event.distribution = DISTRIBUTION[tlp]
    event.threat_level_id = THREAT_LEVEL.get(payload.get("severity") or "", 4)
    event.analysis = _ANALYSIS_COMPLETED
    event.add_tag(tlp_tag(tlp))
    grading = payload.get("grading")
    if grading is not None:
        for tag in grading_tags(grading):
            event.add_tag(tag)
    report = _report_object(disclosure, tlp)
    for number, subject in enumerate(payload.get("subjects") or ()):
        person = _person(disclosure["disclosure_id"], number, subject)
        reference = report.add_reference(person.uuid, "mentions")
        reference.uuid = _uuid(disclosure["disclosure_id"], "mentions", number)
        event.add_object(person)
    event.add_object(report)
    return event


def event_text(disclosure: Mapping[str, Any]) -> str:
    """The MISP event of one disclosure as one line of JSON (``{"Event": {...}}``)."""
    event = json.loads(disclosure_event(disclosure).to_json())
    return json.dumps({"Event": event}, ensure_ascii=False, separators=(",", ":"))
