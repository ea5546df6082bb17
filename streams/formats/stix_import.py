"""A STIX 2.1 bundle in intelshare's mapping, back to reports in JSON form
(``intelshare submit --format stix21``): the inverse of :mod:`streams.formats.stix`.

Pure. Each ``report`` object of the bundle becomes one report, which then goes through the
same validation as any other (:func:`streams.core.report.validate_report`). What the mapping
cannot carry is rejected, never dropped: an object type, property, extension or marking it
does not know, a reference to an object not in the bundle, a TLP 1.0 marking. Each problem
names the object id and its property. The fields the exchange adds from its reference data
(facility name, country, security level, subjects' risk level and rftf) and the correlation
grouping are read and left out: the receiving exchange enriches from its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.core.report import Tlp
from streams.errors import FieldProblem, StixMappingError
from streams.formats.stix import (
    GRADING_EXTENSION,
    REPORT_EXTENSION,
    REPORT_FIELDS,
    SUBJECT_FIELDS,
    TLP_EXTENSION,
    TLP_MARKING_IDS,
    shipped_definitions,
)
from streams.i18n import msg

__all__ = ["reports_from_bundle"]

_COMMON = ("type", "spec_version", "id", "created", "modified", "created_by_ref")
_SDO = (*_COMMON, "object_marking_refs")
_PROPERTIES: dict[str, tuple[str, ...]] = {
    "marking-definition": (*_COMMON, "name", "extensions", "definition_type", "definition"),
    "identity": (*_SDO, "name", "description", "identity_class", "roles", "extensions"),
    "report": (
        *_SDO,
        "name",
        "published",
        "description",
        "object_refs",
        "external_references",
        "extensions",
    ),
    "incident": (*_SDO, "name"),
    "note": (*_SDO, "abstract", "content", "object_refs", "extensions"),
    "grouping": (*_SDO, "name", "context", "object_refs", "external_references"),
    "extension-definition": (),  # only the shipped ones: checked by id
}
"""The object types of the mapping and the properties each may have."""
_EXTENSION_KEYS = {
    GRADING_EXTENSION: ("extension_type", "source", "assessment", "handling", "conditions"),
    REPORT_EXTENSION: ("extension_type", *REPORT_FIELDS, "indicators", *SUBJECT_FIELDS),
}
_FROM_UNIT = ("kind", "category", "severity", "occurred_at", "reported_at", "facility_id")
"""The report extension's fields a unit writes (the rest the exchange adds)."""
_TLP_BY_ID = {ident: tlp for tlp, ident in TLP_MARKING_IDS.items()}
_TLP_1 = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
"""stix2's built-in TLP 1.0 marking definitions (WHITE, GREEN, AMBER, RED)."""


class _Reader:
    """The objects of one bundle and the problems found in them."""

    def __init__(self, objects: list[Any]) -> None:
        self.problems: list[FieldProblem] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        shipped = {o["id"] for o in shipped_definitions()} | {TLP_EXTENSION}
        for number, obj in enumerate(objects):
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                self.fail(f"objects[{number}]", msg("is not a STIX object with an id"))
                continue
            self.by_id[obj["id"]] = obj
            if obj["id"] not in shipped:
                self._check(obj)

    def fail(self, where: str, reason: str) -> None:
        self.problems.append(FieldProblem(where, reason))

    def _check(self, obj: dict[str, Any]) -> None:
        ident, kind = obj["id"], obj.get("type")
        allowed = _PROPERTIES.get(str(kind))
        if not allowed:
            self.fail(
                f"{ident} type", msg("{kind!r} cannot be mapped to an intelshare report", kind=kind)
            )
            return
        for name in obj:
            if name not in allowed:
                self.fail(
                    f"{ident} {name}",
                    msg("cannot be mapped to an intelshare report ({kind})", kind=kind),
                )
        for key, value in (obj.get("extensions") or {}).items():
            known = _EXTENSION_KEYS.get(key)
            if kind == "marking-definition" and key == TLP_EXTENSION:
                continue
            if known is None or not isinstance(value, dict):
                self.fail(f"{ident} extensions.{key}", msg("is not an extension of the mapping"))
                continue
            for name in value:
                if name not in known:
                    self.fail(
                        f"{ident} extensions.{key}.{name}", msg("cannot be mapped; remove it")
                    )
        if kind == "marking-definition":
            self._check_marking(obj)

    def _check_marking(self, obj: dict[str, Any]) -> None:
        ident = obj["id"]
        if ident in _TLP_1:
            self.fail(
                f"{ident} id",
                msg("is a TLP 1.0 marking; mark with the TLP 2.0 extension's marking definitions"),
            )
        elif ident not in _TLP_BY_ID and obj.get("definition_type") != "statement":
            self.fail(f"{ident} definition_type", msg("only TLP 2.0 and statement markings map"))

    def refs(self, obj: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        """The objects ``obj[name]`` refers to; a reference not in the bundle is a problem."""
        found = []
        for ref in obj.get(name) or ():
            target = self.by_id.get(ref)
            if target is None:
                self.fail(f"{obj['id']} {name}", msg("{ref} is not in the bundle", ref=ref))
            else:
                found.append(target)
        return found


def _extension(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = (obj.get("extensions") or {}).get(key) or {}
    return {k: v for k, v in value.items() if k != "extension_type"}


def _event_id(read: _Reader, report: Mapping[str, Any]) -> str | None:
    for ref in report.get("external_references") or ():
        if isinstance(ref, dict) and ref.get("source_name") == "intelshare-event":
            return str(ref.get("external_id"))
    read.fail(f"{report['id']} external_references", msg("has no intelshare-event: the event id"))
    return None


def _tlp(read: _Reader, report: Mapping[str, Any]) -> str | None:
    markings = read.refs(report, "object_marking_refs")
    labels = [_TLP_BY_ID[m["id"]] for m in markings if m["id"] in _TLP_BY_ID]
    if len(labels) != 1:
        read.fail(
            f"{report['id']} object_marking_refs", msg("must hold exactly one TLP 2.0 marking")
        )
        return None
    tlp: Tlp = labels[0]
    return tlp.value


def _report(read: _Reader, report: Mapping[str, Any]) -> dict[str, Any]:
    """One report in JSON form; fields the bundle lacks are left out for validation to name."""
    out: dict[str, Any] = {"event_id": _event_id(read, report), "tlp": _tlp(read, report)}
    fields = _extension(report, REPORT_EXTENSION)
    out |= {k: fields[k] for k in _FROM_UNIT if k in fields}
    grading = _extension(report, GRADING_EXTENSION)
    if grading:
        out["grading"] = {"conditions": None} | grading
    if "description" in report:
        out["narrative"] = report["description"]
    out["subjects"], out["indicators"] = [], []
    for obj in read.refs(report, "object_refs"):
        if obj.get("type") == "identity" and "reporting-unit" in (obj.get("roles") or ()):
            out["unit_id"] = obj.get("name")
        elif obj.get("type") == "identity" and obj.get("identity_class") == "individual":
            roles = obj.get("roles") or ["subject"]
            out["subjects"].append({"subject_id": obj.get("name"), "role": str(roles[0]).upper()})
        elif obj.get("type") == "note":
            out["indicators"] += _extension(obj, REPORT_EXTENSION).get("indicators") or []
    return {k: v for k, v in out.items() if v is not None}


def reports_from_bundle(bundle: object, label: str = "bundle") -> list[tuple[str, dict[str, Any]]]:
    """Each report of ``bundle`` as (label naming its id, report in JSON form); raises
    :class:`StixMappingError` naming every object and property the mapping cannot carry."""
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        problem = FieldProblem("type", msg("is not a STIX 2.1 bundle (type must be 'bundle')"))
        raise StixMappingError([problem], label=label)
    objects = bundle.get("objects")
    read = _Reader(objects if isinstance(objects, list) else [])
    reports = [o for o in read.by_id.values() if o.get("type") == "report"]
    if not reports:
        read.fail(f"{bundle.get('id')} objects", msg("holds no report"))
    found = [(f"{label} {r['id']}", _report(read, r)) for r in reports]
    if read.problems:
        raise StixMappingError(read.problems, label=label)
    return found
