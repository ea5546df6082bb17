"""The demo's reports, drawn from reference data: valid ones spread over the countries like their
violent-extremist figures, content duplicates, correlations, resubmissions, and the bad inputs
the exchange must refuse.

A facility's reporting unit is its country's prison intelligence unit in the city that ends the
facility's name. Everything is deterministic for a seeded ``random.Random`` and a ``now``; the
words come from :mod:`ops.narratives`. :func:`draw_report` and :class:`World` are shared with the
benchmark's workload (:mod:`ops.workload`).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any, NamedTuple

from ops.narratives import (
    CATEGORY_WEIGHTS,
    COMPANIONS,
    CONDITIONS,
    EXTREMISM,
    INCIDENT,
    INDICATORS,
    OBSERVATION,
    PLACES,
    TLP_WEIGHTS,
    WHEN,
)
from streams.core.codec import MAGIC, record_codec
from streams.core.report import validate_report
from streams.settings import PROJECT_ROOT

__all__ = [
    "BadInput",
    "DemoReports",
    "Line",
    "Ref",
    "World",
    "demo_reports",
    "draw_grading",
    "draw_report",
    "iso_utc",
]

Line = dict[str, Any]
"""One JSON line as the command line reads it: a report, a reference record, an agreement."""
Ref = Mapping[str, Any]
"""A reference line as read back."""


class World:
    """Facilities, units and subject pools of the reference data, indexed for drawing.

    A facility's unit is ``CC-PIU-CITY`` from the ``(City)`` that ends its name (``HQ`` when
    there is none); a subject belongs to the country its id starts with, or to every country.
    """

    def __init__(self, facilities: Sequence[Ref], subjects: Sequence[Ref], now: datetime) -> None:
        self.now = now.astimezone(UTC).replace(second=0, microsecond=0)
        self.facilities: dict[str, list[Ref]] = {}
        self.unit: dict[str, str] = {}
        for facility in facilities:
            self.facilities.setdefault(facility["country"], []).append(facility)
            city = re.search(r"\(([^()]+)\)$", facility["name"])
            place = re.sub(r"[^A-Z0-9]+", "-", city[1].upper()).strip("-") if city else ""
            self.unit[facility["facility_id"]] = f"{facility['country']}-PIU-{place or 'HQ'}"
        self.ve: dict[str, list[str]] = {}
        self.everyone: dict[str, list[str]] = {}
        for subject in subjects:
            prefix = subject["subject_id"].split("-")[0]
            country = prefix if prefix in self.facilities else ""
            self.everyone.setdefault(country, []).append(subject["subject_id"])
            if subject.get("violent_extremist"):
                self.ve.setdefault(country, []).append(subject["subject_id"])
        self.countries = sorted(self.facilities)
        self.weights = [len(self.ve.get(c, ())) + 1 for c in self.countries]

    def units(self, country: str) -> set[str]:
        """The reporting units of one country's facilities."""
        return {self.unit[f["facility_id"]] for f in self.facilities[country]}

    def person(self, rng: Random, country: str, *, extremist: bool) -> str | None:
        """A subject of ``country`` (a violent-extremist one if asked), or None if it has none."""
        pool = (self.ve if extremist else self.everyone).get(country) or self.everyone.get("")
        return rng.choice(pool) if pool else None


def _uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso_utc(moment: datetime) -> str:
    """``moment`` as the reports write times: UTC, to the second, with a trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _subjects(rng: Random, world: World, country: str, category: str) -> list[dict[str, str]]:
    extremist = rng.random() < (0.8 if category in EXTREMISM else 0.3)
    main = world.person(rng, country, extremist=extremist)
    if main is None:
        return []
    people = [{"subject_id": main, "role": "SUBJECT"}]
    role = COMPANIONS.get(category)
    for _ in range(rng.randint(1, 2) if role else 0):
        other = world.person(rng, country, extremist=False)
        if other and all(other != p["subject_id"] for p in people):
            people.append({"subject_id": other, "role": role or "OTHER"})
    return people


def draw_grading(rng: Random, source: int, assessment: str, handling: str) -> Line:
    """A report's grading; handling C draws one of the conditions."""
    conditions = rng.choice(CONDITIONS) if handling == "C" else None
    return {
        "source": source,
        "assessment": assessment,
        "handling": handling,
        "conditions": conditions,
    }


def draw_report(
    rng: Random,
    world: World,
    facility: Ref,
    kind: str,
    category: str,
    tlp: str,
    grading: Line,
    occurred: datetime,
    reported: datetime,
) -> Line:
    """One report at ``facility`` with the fields given; the rest (event id, severity, subjects,
    indicators, narrative) drawn from ``rng``."""
    templates = (OBSERVATION if kind == "observation" else INCIDENT)[category]
    indicators = [
        {"code": code, "framework": framework, "rating": rng.choice(("LOW", "MODERATE", "HIGH"))}
        for code, framework in rng.sample(INDICATORS, rng.randint(1, 3))
    ]
    severity = rng.choices(("LOW", "MEDIUM", "HIGH", "CRITICAL"), (20, 40, 30, 10))[0]
    return {
        "event_id": _uuid(rng),
        "kind": kind,
        "unit_id": world.unit[facility["facility_id"]],
        "facility_id": facility["facility_id"],
        "occurred_at": iso_utc(occurred),
        "reported_at": iso_utc(reported),
        "tlp": tlp,
        "grading": grading,
        "category": category,
        "severity": severity if kind == "incident" else None,
        "subjects": _subjects(rng, world, facility["country"], category),
        "indicators": indicators if kind == "observation" else [],
        "narrative": rng.choice(templates).format(place=rng.choice(PLACES), when=rng.choice(WHEN)),
    }


def _random_report(rng: Random, world: World, country: str) -> Line:
    category = rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
    kind = "observation" if category in OBSERVATION and rng.random() < 0.4 else "incident"
    occurred = world.now - timedelta(minutes=rng.randint(3 * 1440, 30 * 1440))
    source = rng.choices((1, 2, 3), (30, 55, 15))[0]
    assessment = rng.choices("ABCDE", (20, 35, 30, 12, 3))[0]
    grading = draw_grading(rng, source, assessment, "C" if rng.random() < 0.15 else "P")
    tlp = rng.choices(list(TLP_WEIGHTS), list(TLP_WEIGHTS.values()))[0]
    reported = occurred + timedelta(minutes=rng.randint(15, 30 * 60))
    facility = rng.choice(world.facilities[country])
    return draw_report(rng, world, facility, kind, category, tlp, grading, occurred, reported)


class BadInput(NamedTuple):
    """An input the exchange must refuse, and how."""

    name: str
    """Short name, e.g. ``bad-tlp``; also a file name."""
    value: dict[str, Any] | bytes
    """A report in JSON form, or raw bytes put straight onto ``intel.submissions``."""
    stage: str
    """``submit`` (validate_report rejects it), ``enrich`` (a dead letter: the facility is not in
    the reference data) or ``decode`` (a dead letter: not an intelshare Avro record)."""
    field: str | None
    """The field the refusal names; None for bytes that do not decode."""
    reason: str
    """What the refusal says, in words."""


class DemoReports(NamedTuple):
    """What :func:`demo_reports` makes."""

    reports: list[Line]
    """Valid reports in order of ``reported_at``, content duplicates and correlations included."""
    resubmissions: list[Line]
    """Exact copies of some of ``reports`` (same event_id): each is still one report."""
    bad: list[BadInput]
    """Inputs the exchange must refuse."""


def demo_reports(
    rng: Random,
    facilities: Sequence[Ref],
    subjects: Sequence[Ref],
    count: int = 300,
    *,
    now: datetime,
) -> DemoReports:
    """``count`` valid reports from the 30 days before ``now``, spread over the countries like
    their VE figures, then resubmissions and bad inputs.

    ``count // 60`` of the reports are content duplicates (same unit and content, new event id,
    reported within 20 h of the first), as many are correlations (another unit of the same
    country, same subject and category, occurring 2-48 h after the first), and as many of the
    reports are resubmitted. The truncated bad input is a real encoding, made with the codec of
    ``schemas/``.
    """
    world = World(facilities, subjects, now)
    special = count // 60
    reports = [
        _random_report(rng, world, rng.choices(world.countries, world.weights)[0])
        for _ in range(count - 2 * special)
    ]
    for first in rng.sample(reports, special):
        later = datetime.fromisoformat(first["reported_at"]) + timedelta(
            minutes=rng.randint(10, 1200)
        )
        reports.append(dict(copy.deepcopy(first), event_id=_uuid(rng), reported_at=iso_utc(later)))
    linkable = [r for r in reports if r["subjects"] and len(world.units(r["facility_id"][:2])) > 1]
    for first in rng.sample(linkable, min(special, len(linkable))):
        elsewhere = [
            f
            for f in world.facilities[first["facility_id"][:2]]
            if world.unit[f["facility_id"]] != first["unit_id"]
        ]
        occurred = datetime.fromisoformat(first["occurred_at"]) + timedelta(
            minutes=rng.randint(120, 48 * 60)
        )
        reported = occurred + timedelta(minutes=rng.randint(15, 20 * 60))
        grading = dict(first["grading"])
        linked = draw_report(
            rng,
            world,
            rng.choice(elsewhere),
            "incident",
            first["category"],
            first["tlp"],
            grading,
            occurred,
            reported,
        )
        linked["subjects"] = [dict(first["subjects"][0])]
        reports.append(linked)
    reports.sort(key=lambda r: r["reported_at"])
    resubmissions = [copy.deepcopy(r) for r in rng.sample(reports, special)]
    return DemoReports(reports, resubmissions, _bad_inputs(rng, world))


def _bad_inputs(rng: Random, world: World) -> list[BadInput]:
    country = world.countries[0]
    base = _random_report(rng, world, country)
    base.update(kind="incident", severity="MEDIUM", indicators=[], tlp="AMBER")
    known = {f["facility_id"] for fs in world.facilities.values() for f in fs}
    unknown = next(f"{country}-F-{n}" for n in range(900, 10**4) if f"{country}-F-{n}" not in known)
    codec = record_codec(PROJECT_ROOT / "schemas", "Report")
    encoded = codec.encode(validate_report(base, now=world.now))

    def changed(**fields: Any) -> Line:
        return dict(copy.deepcopy(base), event_id=_uuid(rng), **fields)

    no_facility = changed()
    del no_facility["facility_id"]
    swapped = changed(occurred_at=base["reported_at"], reported_at=base["occurred_at"])
    return [
        BadInput("bad-tlp", changed(tlp="PURPLE"), "submit", "tlp", "PURPLE is not a TLP label"),
        BadInput("missing-facility", no_facility, "submit", "facility_id", "is required"),
        BadInput("occurred-after-reported", swapped, "submit", "occurred_at", "after reported_at"),
        BadInput("narrative-too-long", changed(narrative="x" * 70_000), "submit", "narrative",
                 "over the 64 KiB limit"),
        BadInput("observation-without-indicators", changed(kind="observation", severity=None),
                 "submit", "indicators", "an observation must carry at least one indicator"),
        BadInput("unknown-facility", changed(facility_id=unknown), "enrich", "facility_id",
                 f"{unknown} is not in the reference data"),
        BadInput("random-bytes", bytes([rng.randrange(0xC3)]) + rng.randbytes(47), "decode",
                 None, "not an Avro single-object value"),
        BadInput("truncated", encoded[: len(encoded) // 2], "decode", None,
                 "the Avro body ends before the record does"),
        BadInput("unknown-schema", MAGIC + rng.randbytes(8) + encoded[len(MAGIC) + 8 :],
                 "decode", None, "the writer-schema fingerprint is not in schemas/"),
        BadInput("json-not-avro", json.dumps(changed()).encode(), "decode", None,
                 "JSON where Avro is expected"),
        BadInput("empty", b"", "decode", None, "no bytes at all"),
    ]  # fmt: skip
