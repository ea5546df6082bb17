"""A disclosure as one STIX 2.1 bundle, built with the stix2 library (we do not write STIX by
hand).

Pure: the input is the JSON object ``intelshare consume`` prints (``disclosure_id``,
``event_id``, ``agreement_id``, ``agreement_version``, ``recipient``, ``disclosed_at``,
``payload``), already verified and decrypted. Only what the payload holds is mapped, so a field
the agreement did not disclose appears in no form; pseudonyms are mapped as they are.

Every id is derived from the disclosure id (:func:`stix_id`), so exporting the same disclosure
twice gives the same bundle. A recipient can compute the STIX id of the report of any of its
disclosures (:func:`report_id`), which is how a grouping refers to correlated reports.

TLP is marked with the TLP 2.0 marking-definition objects of the TLP 2.0 extension
(oasis-open/cti-stix-common-objects, extension-definition-specifications/tlp-2.0), not stix2's
built-in TLP 1.0 markings (oasis-open/cti-python-stix2#569). Handling conditions travel as a
``statement`` marking. The 3x5x2 grading and the fields STIX has no property for travel in the
two property extensions defined in ``schemas/stix/intelshare-extensions.json``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import stix2

from streams.core.disclosure import disclosure_id
from streams.core.report import Tlp
from streams.settings import PROJECT_ROOT

__all__ = [
    "EXTENSIONS_FILE",
    "GRADING_EXTENSION",
    "REPORT_EXTENSION",
    "TLP_EXTENSION",
    "TLP_MARKING_IDS",
    "UNDISCLOSED_TLP",
    "bundle_text",
    "disclosure_bundle",
    "disclosure_tlp",
    "notice_bundle",
    "report_id",
    "shipped_definitions",
    "stix_id",
]

TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The TLP 2.0 marking extension (oasis-open/cti-stix-common-objects)."""
TLP_MARKING_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""The TLP 2.0 marking-definition ids, from the extension's marking-definition.json."""
_TLP_CREATED = "2022-10-01T00:00:00.000Z"
"""``created`` of every TLP 2.0 marking definition, as published."""
UNDISCLOSED_TLP = Tlp.AMBER_STRICT
"""The label exported when the agreement does not disclose ``tlp``: the most restrictive an
agreement may disclose (RED never is), so the export is never marked looser than the report."""

GRADING_EXTENSION = "extension-definition--d031a675-4f62-4a5b-87c1-f4c46f87d76a"
"""intelshare's 3x5x2 grading property extension (schemas/stix/grading-3x5x2.schema.json)."""
REPORT_EXTENSION = "extension-definition--760a3e88-5af5-4ee6-a8eb-9580c11d6ec3"
"""intelshare's report-fields property extension (schemas/stix/intelshare-report.schema.json)."""
EXTENSIONS_FILE = PROJECT_ROOT / "schemas" / "stix" / "intelshare-extensions.json"
"""The extension definitions and the identity that defines them, as a STIX bundle."""

REPORT_FIELDS = (
    "kind", "category", "severity", "occurred_at", "reported_at", "facility_id",
    "facility_name", "country", "security_level",
)  # fmt: skip
"""Payload fields carried by the report extension on the report object."""
SUBJECT_FIELDS = ("risk_level", "rftf")
"""Per-subject payload fields carried by the report extension on the subject's identity."""
_NAMESPACE = uuid.UUID("f3ed1496-93f5-439b-bff7-ef0b90c991af")
"""Namespace of the UUIDv5 ids of exported objects; changing it changes every id."""


@cache
def shipped_definitions(path: Path = EXTENSIONS_FILE) -> tuple[dict[str, Any], ...]:
    """The identity and extension-definition objects shipped in ``schemas/stix``."""
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return tuple(bundle["objects"])


def disclosure_tlp(payload: Mapping[str, Any]) -> Tlp:
    """The TLP to mark the export with: the disclosed one, else :data:`UNDISCLOSED_TLP`."""
    label = payload.get("tlp")
    return Tlp(label) if isinstance(label, str) else UNDISCLOSED_TLP


def stix_id(kind: str, ident: str, *parts: object) -> str:
    """The id of one exported object of the disclosure ``ident``: a UUID of version 4 whose
    random bits are those of a SHA-256 of the names (STIX 2.1 wants version 4 for SDOs; the
    stix2-validator warns on the name-based version 5), so the same disclosure always gives
    the same ids."""
    name = "|".join((str(_NAMESPACE), ident, kind, *map(str, parts)))
    digest = hashlib.sha256(name.encode()).digest()[:16]
    return f"{kind}--{uuid.UUID(bytes=digest, version=4)}"


def report_id(ident: str) -> str:
    """The STIX id of the report of disclosure ``ident``."""
    return stix_id("report", ident)


def _tlp_marking(tlp: Tlp) -> stix2.v21.MarkingDefinition:
    return stix2.v21.MarkingDefinition(
        id=TLP_MARKING_IDS[tlp],
        created=_TLP_CREATED,
        name=f"TLP:{tlp.value}",
        extensions={
            TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": tlp.value.lower()}
        },
    )


def _statement(ident: str, conditions: str, when: str) -> stix2.v21.MarkingDefinition:
    return stix2.v21.MarkingDefinition(
        id=stix_id("marking-definition", ident, "conditions"),
        created=when,
        name="3x5x2 handling conditions",
        definition_type="statement",
        definition={"statement": conditions},
    )


def _extension(**fields: Any) -> dict[str, Any]:
    return {REPORT_EXTENSION: {"extension_type": "property-extension", **fields}}


class _Builder:
    """The objects of one disclosure's bundle, sharing its id, time and markings."""

    def __init__(self, disclosure: Mapping[str, Any]) -> None:
        self.disclosure = disclosure
        self.payload: Mapping[str, Any] = disclosure["payload"]
        self.ident: str = disclosure["disclosure_id"]
        self.when: str = disclosure["disclosed_at"]
        self.exchange = stix_id("identity", self.ident, "exchange")
        self.markings: list[Any] = [_tlp_marking(disclosure_tlp(self.payload))]
        conditions = self.payload.get("handling_conditions")
        if conditions is not None:
            self.markings.append(_statement(self.ident, conditions, self.when))

    def common(self) -> dict[str, Any]:
        """Properties every exported SDO has: times, creator and markings."""
        return {
            "created": self.when,
            "modified": self.when,
            "created_by_ref": self.exchange,
            "object_marking_refs": [m.id for m in self.markings],
        }

    def identities(self) -> list[stix2.v21.Identity]:
        """The exchange, the recipient, the reporting unit (when disclosed), each subject."""
        recipient = self.disclosure["recipient"]
        found = [
            stix2.v21.Identity(
                id=self.exchange, name="intelshare exchange", identity_class="system",
                roles=["exchange"], **self.common(),
            ),
            stix2.v21.Identity(
                id=stix_id("identity", self.ident, "recipient"), name=recipient,
                identity_class="organization", roles=["recipient"], **self.common(),
            ),
        ]  # fmt: skip
        if "unit_id" in self.payload:
            found.append(
                stix2.v21.Identity(
                    id=stix_id("identity", self.ident, "unit"),
                    name=self.payload["unit_id"],
                    identity_class="organization",
                    roles=["reporting-unit"],
                    **self.common(),
                )
            )
        for number, subject in enumerate(self.payload.get("subjects") or []):
            details = {k: subject[k] for k in SUBJECT_FIELDS if subject.get(k) is not None}
            extra = {"extensions": _extension(**details)} if details else {}
            found.append(
                stix2.v21.Identity(
                    id=stix_id("identity", self.ident, "subject", number),
                    name=subject["subject_id"],
                    identity_class="individual",
                    roles=[subject["role"].lower()],
                    **extra,
                    **self.common(),
                )
            )
        return found

    def events(self, report: str) -> list[Any]:
        """The incident, or the note that carries the indicators, when disclosed."""
        found: list[Any] = []
        if self.payload.get("kind") == "incident":
            found.append(
                stix2.v21.Incident(
                    id=stix_id("incident", self.ident),
                    name=f"incident {self.disclosure['event_id']}",
                    **self.common(),
                )
            )
        indicators = self.payload.get("indicators")
        if indicators:
            found.append(
                stix2.v21.Note(
                    id=stix_id("note", self.ident, "indicators"),
                    abstract="structured professional judgement indicators",
                    content="; ".join(_indicator_text(i) for i in indicators),
                    object_refs=[report],
                    extensions=_extension(indicators=list(indicators)),
                    **self.common(),
                )
            )
        return found

    def grouping(self, report: str) -> list[stix2.v21.Grouping]:
        """The reports the exchange correlated with this one, when disclosed and any."""
        correlated: Sequence[str] = self.payload.get("correlated_with") or ()
        if not correlated:
            return []
        agreement = self.disclosure["agreement_id"]
        refs = [report_id(disclosure_id(event, agreement)) for event in correlated]
        return [
            stix2.v21.Grouping(
                id=stix_id("grouping", self.ident, "correlated"),
                name=f"reports correlated with event {self.disclosure['event_id']}",
                context="suspicious-activity",
                object_refs=[report, *refs],
                external_references=[
                    {"source_name": "intelshare-event", "external_id": event}
                    for event in correlated
                ],
                **self.common(),
            )
        ]

    def report(self, refs: list[str]) -> stix2.v21.Report:
        """The report: the disclosure's envelope, its report fields and its grading."""
        payload = self.payload
        fields = {k: payload[k] for k in REPORT_FIELDS if payload.get(k) is not None}
        extensions = _extension(**fields)
        grading = payload.get("grading")
        if grading is not None:
            extensions[GRADING_EXTENSION] = _grading_extension(grading)
        extra = {"description": payload["narrative"]} if "narrative" in payload else {}
        return stix2.v21.Report(
            id=report_id(self.ident),
            name=f"intelshare disclosure {self.ident}",
            published=self.when,
            object_refs=refs,
            external_references=self.references(),
            extensions=extensions,
            **extra,
            **self.common(),
        )

    def references(self) -> list[dict[str, str]]:
        """Disclosure id, event id, agreement id and version."""
        d = self.disclosure
        return [
            {"source_name": "intelshare-disclosure", "external_id": d["disclosure_id"]},
            {"source_name": "intelshare-event", "external_id": d["event_id"]},
            {
                "source_name": "intelshare-agreement",
                "external_id": d["agreement_id"],
                "description": f"version {d['agreement_version']}",
            },
        ]


def _grading_extension(grading: Mapping[str, Any]) -> dict[str, Any]:
    value = {"extension_type": "property-extension"}
    value |= {k: grading[k] for k in ("source", "assessment", "handling")}
    if grading.get("conditions") is not None:
        value["conditions"] = grading["conditions"]
    return value


def _indicator_text(indicator: Mapping[str, Any]) -> str:
    parts = [indicator["code"]]
    if indicator.get("framework"):
        parts.append(f"({indicator['framework']})")
    if indicator.get("rating"):
        parts.append(indicator["rating"])
    return " ".join(parts)


def notice_bundle(notice: Mapping[str, Any]) -> stix2.v21.Bundle:
    """The STIX 2.1 bundle of a recall or correction notice (as ``consume`` prints it).

    A recall is the recalled disclosure's report again, with the same id and creation time
    and ``revoked: true`` (STIX 2.1 §3.6: a revoked object is no longer valid and must not be
    updated further); a correction is a note on that report naming the report that corrects
    it."""
    payload = notice["payload"]
    original, when = payload["refers_to"], notice["disclosed_at"]
    first = payload["disclosed_at"]
    exchange = stix_id("identity", original, "exchange")
    identity = stix2.v21.Identity(
        id=exchange, name="intelshare exchange", identity_class="system", roles=["exchange"],
        created=first, modified=first,
    )  # fmt: skip
    references = [
        {"source_name": "intelshare-disclosure", "external_id": original},
        {"source_name": "intelshare-event", "external_id": payload["event_id"]},
    ]
    obj: Any
    if payload["type"] == "recall":
        obj = stix2.v21.Report(
            id=report_id(original), name=f"intelshare disclosure {original}", published=first,
            object_refs=[exchange], external_references=references, created=first,
            modified=when, created_by_ref=exchange, revoked=True,
            description=f"recalled by the reporting unit: {payload['reason']}",
        )  # fmt: skip
    else:
        obj = stix2.v21.Note(
            id=stix_id("note", notice["disclosure_id"]), abstract="correction",
            content=f"corrected by the report of event {payload['corrected_by']}",
            object_refs=[report_id(original)], external_references=[
                *references,
                {"source_name": "intelshare-event", "external_id": payload["corrected_by"]},
            ],
            created=when, modified=when, created_by_ref=exchange,
        )  # fmt: skip
    return stix2.v21.Bundle(
        objects=[identity, obj], id=stix_id("bundle", notice["disclosure_id"]), allow_custom=False
    )


def erasure_bundle(notice: Mapping[str, Any]) -> stix2.v21.Bundle:
    """The STIX 2.1 bundle of an erasure notice (streams.core.erasure): a note on the report
    of each disclosure concerned, asking the agency to erase the subject it names (as the
    agency received it) and saying why."""
    payload, when = notice["payload"], notice["disclosed_at"]
    exchange = stix_id("identity", notice["disclosure_id"], "exchange")
    identity = stix2.v21.Identity(
        id=exchange, name="intelshare exchange", identity_class="system", roles=["exchange"],
        created=when, modified=when,
    )  # fmt: skip
    subjects = ", ".join(payload["subjects"]) or "the subject"
    note = stix2.v21.Note(
        id=stix_id("note", notice["disclosure_id"]), abstract="erasure",
        content=f"erase what you hold about {subjects}: {payload['reason']}",
        object_refs=[report_id(d) for d in payload["disclosures"]] or [exchange],
        external_references=[
            {"source_name": "intelshare-disclosure", "external_id": d}
            for d in payload["disclosures"]
        ] or None,
        created=when, modified=when, created_by_ref=exchange,
    )  # fmt: skip
    return stix2.v21.Bundle(
        objects=[identity, note], id=stix_id("bundle", notice["disclosure_id"]), allow_custom=False
    )


def disclosure_bundle(disclosure: Mapping[str, Any]) -> stix2.v21.Bundle:
    """The STIX 2.1 bundle of one opened disclosure (as ``consume`` prints it); a notice's
    bundle (:func:`notice_bundle`) for a recall or correction, :func:`erasure_bundle` for an
    erasure."""
    if disclosure.get("type") in ("recall", "correction"):
        return notice_bundle(disclosure)
    if disclosure.get("type") == "erasure":
        return erasure_bundle(disclosure)
    build = _Builder(disclosure)
    report = report_id(build.ident)
    identities = build.identities()
    events = build.events(report)
    grouping = build.grouping(report)
    refs = [o.id for o in (*identities, *events, *grouping)]
    objects = [*build.markings, *identities, *events, *grouping, build.report(refs)]
    return stix2.v21.Bundle(
        objects=[*shipped_definitions(), *objects],
        id=stix_id("bundle", build.ident),
        allow_custom=False,
    )


def bundle_text(disclosure: Mapping[str, Any]) -> str:
    """The bundle of one disclosure as one line of JSON."""
    text: str = disclosure_bundle(disclosure).serialize(ensure_ascii=False)
    return text
