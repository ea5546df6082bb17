"""The benchmark's workload (``ops/bench``): many distinct valid reports, each disclosed under a
chosen mean number of agreements.

The reports are drawn like the demo's (:func:`ops.demo_reports.draw_report`) from combinations
of the fields the policy reads, each routed once up front with ``streams.core.policy.route``.
Everything is deterministic for a seeded ``random.Random`` and a ``now``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from random import Random
from typing import NamedTuple

from ops.demo_data import demo_agreements
from ops.demo_reports import Line, Ref, World, draw_grading, draw_report
from ops.narratives import INCIDENT, OBSERVATION
from streams.core.policy import Agreement, parse_agreement, route
from streams.core.report import Tlp

__all__ = ["workload"]


class _Combo(NamedTuple):
    """The fields the policy reads; every report drawn from one combination routes alike."""

    facilities: tuple[Ref, ...]
    kind: str
    category: str
    tlp: Tlp
    source: int
    assessment: str
    handling: str


def _combos(agreements: Sequence[Agreement], world: World) -> dict[int, list[_Combo]]:
    """Every combination, keyed by how many agreements ``streams.core.policy.route`` gives it.

    Facilities are grouped by country and by which agreements' facility lists name them, so
    one representative stands for its group.
    """
    listed = [set(a.match.facilities) for a in agreements if a.match.facilities]
    groups: dict[tuple[str, tuple[bool, ...]], list[Ref]] = {}
    for country in world.countries:
        for facility in world.facilities[country]:
            signature = tuple(facility["facility_id"] in ids for ids in listed)
            groups.setdefault((country, signature), []).append(facility)
    kinds = [("incident", c) for c in INCIDENT] + [("observation", c) for c in OBSERVATION]
    found: dict[int, list[_Combo]] = {}
    for (country, _), members in groups.items():
        for (kind, category), tlp, source, assessment, handling in itertools.product(
            kinds, Tlp, (1, 2, 3), "ABCDE", "PC"
        ):
            probe = {
                "facility_id": members[0]["facility_id"],
                "kind": kind,
                "category": category,
                "tlp": tlp.symbol,
                "grading": {"source": source, "assessment": assessment, "handling": handling},
                "enrichment": {"country": country, "duplicate_of": None},
            }
            combo = _Combo(tuple(members), kind, category, tlp, source, assessment, handling)
            found.setdefault(len(route(agreements, probe, world.now)), []).append(combo)
    return found


def workload(
    rng: Random,
    count: int,
    facilities: Sequence[Ref],
    subjects: Sequence[Ref],
    *,
    now: datetime,
    agreements: Sequence[Ref] | None = None,
    agreements_per_report: float = 3.0,
) -> Iterator[Line]:
    """``count`` distinct valid reports for the benchmark, each disclosed under about
    ``agreements_per_report`` of ``agreements`` (default :func:`demo_agreements` of ``now``).

    How it is ensured: every combination of the fields the policy reads (country and facility
    group, kind, category, TLP, source, assessment, handling) is routed once, up front, with
    ``streams.core.policy.route``; reports are drawn from the combinations matched by exactly
    ``agreements_per_report`` agreements or, for a fraction, from the two nearest counts in the
    proportion that gives that mean. Each narrative ends with a unique reference, so no report is
    a content duplicate (which would not be disclosed). With the demo agreements only Kazakh
    reports reach three (``kz-knb``, ``kz-police`` and the cross-border one to ``kg-gsin``), so
    the default workload is Kazakh. Raises ValueError when no mix gives the mean.
    """
    given = demo_agreements(now) if agreements is None else agreements
    parsed = [parse_agreement(a) for a in given]
    world = World(facilities, subjects, now)
    found = _combos(parsed, world)
    below = [k for k in found if k <= agreements_per_report]
    above = [k for k in found if k >= agreements_per_report]
    if not below or not above:
        raise ValueError(f"no mix of reports gives {agreements_per_report}: {sorted(found)}")
    low, high = found[max(below)], found[min(above)]
    share = 0.0 if low is high else (agreements_per_report - max(below)) / (min(above) - max(below))
    return _draw(rng, count, world, low, high, share)


def _draw(
    rng: Random, count: int, world: World, low: list[_Combo], high: list[_Combo], share: float
) -> Iterator[Line]:
    for i in range(count):
        c = rng.choice(high if rng.random() < share else low)
        occurred = world.now - timedelta(minutes=rng.randint(360, 7 * 1440))
        reported = occurred + timedelta(minutes=rng.randint(10, 300))
        grading = draw_grading(rng, c.source, c.assessment, c.handling)
        report = draw_report(
            rng,
            world,
            rng.choice(c.facilities),
            c.kind,
            c.category,
            c.tlp.value,
            grading,
            occurred,
            reported,
        )
        report["narrative"] += f" Unit reference W{i:07d}."
        yield report
