"""Property-based fuzzing of every input the exchange parses, with hypothesis: valid reports,
reference lines and agreements, mutated, and raw text, each through the same functions
``submit``, ``reference load`` and ``agreements apply`` call.

``ops/fuzz [--cases N] [--seed S] [--jobs J] [--json]`` runs N cases (default 100,000) spread
over four targets and J processes (default: one per core) and prints, per target, how many were
accepted, rejected naming a field, crashed (any exception other than intelshare's own), and
accepted but invalid (an accepted value that breaks an invariant checked here independently of
the validators: it must encode in its Avro schema, read back the same, validate again to the
same record, carry a canonical event id, and hold no control character outside the
narrative). Exit 1 when anything crashed or was accepted invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seed_of
from hypothesis import strategies as st

from ops.demo_data import demo_agreements, of_type, reference_data
from ops.workload import workload
from streams.core.codec import record_codec
from streams.core.policy import parse_agreement
from streams.core.reference import parse_reference_line
from streams.core.report import report_to_json, validate_report
from streams.errors import IntelshareError
from streams.kafka.submit import read_reports
from streams.settings import Settings

__all__ = ["TARGETS", "Tally", "main", "run"]

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
HOSTILE = [
    "", " ", "\x00", "\u202eRTL", "\ud800", "A" * 70_000, "\n", "null", "{}", "[]", "-1",
    "9" * 5000, "1e999", "NaN", "RED", "urn:uuid:0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60",
    "\uff10b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60", "2026-11-20T14:05:00Z\x00",
    "2026-11-20T14:05:00", "9999-12-31T23:59:59Z", "<script>alert(1)</script>",
]  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
ODD = JSON_VALUES | st.sampled_from(HOSTILE) | st.integers(min_value=-(2**80), max_value=2**80)


class Tally(NamedTuple):
    """What happened to the cases of one target."""

    counts: Counter[str]
    """accepted, rejected (naming a field), crashed, accepted_invalid."""
    examples: dict[str, str]
    """The first crash or invalid acceptance of each kind, briefly."""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (dict keys and list indexes), the root excluded."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()  # fmt: skip
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _mutate(base: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    """A copy of ``base`` with the item at ``path`` deleted, replaced, or given a sibling."""
    copy = json.loads(json.dumps(base))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "sibling" and isinstance(parent, dict):
        parent[f"{last}_x"] = value
    else:
        parent[last] = value
    return copy


def _mutated(bases: Sequence[Any]) -> st.SearchStrategy[Any]:
    """A base value changed in one to three places."""

    def change(base: Any) -> st.SearchStrategy[Any]:
        paths = _paths(base)
        one = st.tuples(
            st.sampled_from(paths), st.sampled_from(("delete", "replace", "sibling")), ODD
        )
        return st.lists(one, min_size=1, max_size=3).map(lambda edits: _apply(base, edits))

    return st.sampled_from(list(bases)).flatmap(change)


def _apply(base: Any, edits: list[tuple[tuple[Any, ...], str, Any]]) -> Any:
    value = base
    for path, action, odd in edits:
        try:
            value = _mutate(value, path, action, odd)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced the path
    return value


def _corrupt(text: str, edits: list[tuple[int, str]]) -> str:
    """``text`` with characters inserted (or removed, for an empty insertion) at positions."""
    for at, piece in edits:
        at %= len(text) + 1
        text = text[:at] + piece + text[at + 1 :] if not piece else text[:at] + piece + text[at:]
    return text


def _clean(value: Any, narrative_ok: bool = False) -> bool:
    """No control character, bidi override or lone surrogate in any string but the narrative."""
    if isinstance(value, str):
        return narrative_ok or not _CONTROL.search(value)
    if isinstance(value, dict):
        return all(_clean(v, k == "narrative") for k, v in value.items())
    if isinstance(value, list):
        return all(_clean(v) for v in value)
    return True


def _check_report(value: Any) -> str | None:
    """None when ``value`` is rejected or accepted sound; else what is wrong with accepting it."""
    record = validate_report(value, now=NOW)
    codec = record_codec(Settings().schemas_dir, "Report")
    decoded = codec.decode(codec.encode(record))
    if decoded.pop("enrichment", None) is not None or decoded != record:
        return "does not read back from Avro as it was"
    if validate_report(report_to_json(record), now=NOW) != record:
        return "validating its own JSON form gives another record"
    if not _CANONICAL_ID.fullmatch(record["event_id"]):
        return f"event_id {record['event_id']!r} is not canonical"
    if not _clean(report_to_json(record)):
        return "a control character outside the narrative"
    if record["occurred_at"] > record["reported_at"]:
        return "occurred after it was reported"
    return None


def _outcome(check: Callable[[Any], str | None], value: Any) -> tuple[str, str]:
    """``("accepted" | "rejected" | "crashed" | "accepted_invalid", detail)`` of one value."""
    try:
        problem = check(value)
    except IntelshareError as exc:
        problems = getattr(exc, "problems", None)
        if problems is not None and not all(p.field for p in problems):
            return "crashed", "a rejection that names no field"
        return "rejected", ""
    except Exception as exc:  # the whole point: anything else is a crash
        return "crashed", type(exc).__name__
    return ("accepted", "") if problem is None else ("accepted_invalid", problem)


_WORST = ("crashed", "accepted_invalid", "rejected", "accepted")


def _text_outcome(text: str) -> tuple[str, str]:
    """The worst outcome over the candidates ``submit`` reads from ``text``."""
    try:
        found = [
            ("rejected", "") if c.problem is not None else _outcome(_check_report, c.value)
            for c in read_reports(text, max_bytes=256 * 1024)
        ]
    except Exception as exc:
        return "crashed", type(exc).__name__
    return min(found or [("rejected", "")], key=lambda o: _WORST.index(o[0]))


def _check_reference(value: Any) -> str | None:
    ref = parse_reference_line(value, "line 1", NOW)
    codec = record_codec(Settings().schemas_dir, ref.schema_name.split(".")[-1])
    if codec.decode(codec.encode(ref.record)) != ref.record:
        return "does not read back from Avro as it was"
    return None if _clean(ref.record) else "a control character in reference data"


def _check_agreement(value: Any) -> str | None:
    agreement = parse_agreement(value)
    if not agreement.disclose:
        return "an agreement that discloses nothing"
    return None


class _Target(NamedTuple):
    name: str
    strategy: Callable[[], st.SearchStrategy[Any]]
    outcome: Callable[[Any], tuple[str, str]]


def _bases() -> dict[str, list[Any]]:
    world = reference_data(random.Random(7))  # noqa: S311  # test data, not secrets
    reports = list(
        workload(
            random.Random(11), 60, of_type(world, "facility"), of_type(world, "subject"),  # noqa: S311
            now=NOW - timedelta(days=1),
        )
    )  # fmt: skip
    return {"reports": reports, "reference": world[:40:3], "agreements": demo_agreements(NOW)}


def _agreement_json(value: dict[str, Any]) -> Any:
    return json.loads(json.dumps(value, default=lambda t: t.isoformat()))


def _on(check: Callable[[Any], str | None]) -> Callable[[Any], tuple[str, str]]:
    return lambda value: _outcome(check, value)


def targets() -> list[_Target]:
    """The four targets, on bases made once."""
    bases = _bases()
    agreements = [_agreement_json(a) for a in bases["agreements"]]

    def text_of() -> st.SearchStrategy[Any]:
        dumped = st.sampled_from(bases["reports"]).map(json.dumps)
        edits = st.lists(st.tuples(st.integers(0, 4000), st.sampled_from(
            ["", "{", "}", "[", ",", '"', "\\", "\ufeff", "\n", "[" * 64, ',"tlp":"RED"']
        )), max_size=4)  # fmt: skip
        return st.one_of(
            st.tuples(dumped, edits).map(lambda pair: _corrupt(*pair)),
            st.text(max_size=200),
            st.lists(dumped, min_size=2, max_size=4).map("\n".join),
        )

    return [
        _Target("report", lambda: _mutated(bases["reports"]), _on(_check_report)),
        _Target("submit-text", text_of, _text_outcome),
        _Target("reference", lambda: _mutated(bases["reference"]), _on(_check_reference)),
        _Target("agreement", lambda: _mutated(agreements), _on(_check_agreement)),
    ]


TARGETS = ("report", "submit-text", "reference", "agreement")


def _case(target: _Target, tally: Tally, examples: int, seed: int) -> Callable[[], None]:
    """The hypothesis test of one target: every value generated is tallied, none fails."""

    @settings(
        max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @seed_of(seed)
    @given(target.strategy())
    def case(value: Any) -> None:
        kind, detail = target.outcome(value)
        tally.counts[kind] += 1
        if kind in ("crashed", "accepted_invalid"):
            tally.examples.setdefault(f"{kind}: {detail}", repr(value)[:300])

    return case


def run(cases: int, seed: int, jobs: int = 1) -> dict[str, Tally]:
    """Run ``cases`` spread evenly over the targets and over ``jobs`` processes (each with a
    seed of its own, derived from ``seed``); a tally per target."""
    if jobs <= 1:
        return _run_one(cases, seed)
    shares = [cases // jobs + (1 if job < cases % jobs else 0) for job in range(jobs)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        parts = list(pool.map(_run_one, shares, [seed * 1000 + job for job in range(jobs)]))
    merged = {name: Tally(Counter(), {}) for name in parts[0]}
    for part in parts:
        for name, tally in part.items():
            merged[name].counts.update(tally.counts)
            for label, example in tally.examples.items():
                merged[name].examples.setdefault(label, example)
    return merged


def _run_one(cases: int, seed: int) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for target in targets():
        tallies[target.name] = Tally(Counter(), {})
        _case(target, tallies[target.name], max(1, cases // len(TARGETS)), seed)()
    return tallies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ops/fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="in all (default 100,000)")
    parser.add_argument("--seed", type=int, default=1, help="the random seed")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes, each with a seed of its own (default: one per core)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if args.cases < len(TARGETS):
        parser.error(f"--cases must be at least {len(TARGETS)}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    tallies = run(args.cases, args.seed, args.jobs)
    bad = sum(t.counts["crashed"] + t.counts["accepted_invalid"] for t in tallies.values())
    if args.json:
        print(json.dumps({name: dict(t.counts) | {"examples": t.examples}
                          for name, t in tallies.items()}))  # fmt: skip
    else:
        print(f"{'target':<12} {'cases':>7} {'accepted':>9} {'rejected':>9} {'crashed':>8} "
              f"{'accepted-invalid':>17}")  # fmt: skip
        for name, t in tallies.items():
            c = t.counts
            print(f"{name:<12} {sum(c.values()):>7} {c['accepted']:>9} {c['rejected']:>9} "
                  f"{c['crashed']:>8} {c['accepted_invalid']:>17}")  # fmt: skip
            for label, example in t.examples.items():
                print(f"  {label}: {example}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
