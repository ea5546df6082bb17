"""Mutation testing of the security-critical core with mutmut: would the unit tests notice a
wrong change in the code that decides what is disclosed and what proves it?

``ops/mutate [MODULE...] [--workers N] [--survivors] [--report-only]`` runs mutmut on the
named modules (default: the eight of issue 18; ``keyfiles`` only when named) with the settings
of ``[tool.mutmut]`` in pyproject.toml (these files; ``tests/unit`` only, less its layer check
and its fuzzing, demo-data and micro-benchmark suites; work folder ``mutants/``), and prints
one row per module: mutants, killed, score. Every mutant counts: one that no test reaches, or
that survives, is not killed; one that makes the tests time out is (they noticed). Not part of
CI: it takes minutes. ``--survivors`` lists the mutants not killed, for ``mutmut show NAME``;
``--report-only`` prints the figures of the last run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = ["DEFAULT", "MODULES", "Score", "main", "patterns", "score", "table"]

MODULES: dict[str, tuple[str, ...]] = {
    "policy": ("streams/core/policy.py",),
    "minimise": ("streams/core/minimise.py",),
    "chain": ("streams/audit/chain.py",),
    "merkle": ("streams/audit/merkle.py",),
    "checkpoint": ("streams/audit/checkpoint.py",),
    # the envelope, signatures and pseudonyms, and the canonical encoding of what is signed
    "crypto": ("streams/core/crypto.py", "streams/core/canonical.py"),
    "dedup": ("streams/core/dedup.py",),
    "report": ("streams/core/report.py",),
    "keyfiles": ("streams/core/keyfiles.py",),
}
"""The modules by name, and the source files each is measured over."""
DEFAULT = tuple(m for m in MODULES if m != "keyfiles")
"""The eight of issue 18, run when no module is named (key files only when named)."""

_KILLED = {1, 3, 36, 37, -24, 24, 152, 255}
"""mutmut's exit codes of a mutant the tests noticed: a failing test (1, or 3, pytest's
internal error), a time-out (36, SIGXCPU as 24, -24 or 152, 255) or the type checker (37)."""
_WORK = Path("mutants")


class Score(NamedTuple):
    """One module's figures."""

    module: str
    """Its name in :data:`MODULES`."""
    mutants: int
    """Every mutant mutmut made of its files."""
    killed: int
    """Those the unit tests noticed."""
    survivors: tuple[str, ...]
    """The names of the others (survived, not reached by any test, or not yet run)."""

    @property
    def percent(self) -> float:
        """Killed as a percentage of every mutant (100 for a module without any)."""
        return 100.0 * self.killed / self.mutants if self.mutants else 100.0


def patterns(modules: Iterable[str]) -> list[str]:
    """mutmut's mutant-name patterns of the modules' files (``streams.core.policy.*``)."""
    return [
        path.removesuffix(".py").replace("/", ".") + ".*"
        for module in modules
        for path in MODULES[module]
    ]


def score(module: str, work: Path = _WORK) -> Score:
    """The module's figures from mutmut's results in ``work`` (``<file>.meta``, JSON)."""
    codes: dict[str, int | None] = {}
    for path in MODULES[module]:
        meta = work / f"{path}.meta"
        if meta.is_file():
            codes.update(_exit_codes(meta))
    survivors = tuple(sorted(name for name, code in codes.items() if code not in _KILLED))
    return Score(module, len(codes), len(codes) - len(survivors), survivors)


def _exit_codes(meta: Path) -> dict[str, int | None]:
    """The exit code of each mutant in one of mutmut's ``.meta`` files; a run in progress
    rewrites them, so a half-written one is read again."""
    for _ in range(20):
        try:
            codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))[
                "exit_code_by_key"
            ]
            return codes
        except json.JSONDecodeError:
            time.sleep(0.1)
    raise SystemExit(f"ops/mutate: {meta} is being written by a mutmut run; try again")


def table(scores: Iterable[Score]) -> str:
    """The figures as a Markdown table, as the issue and the closing note give them."""
    lines = ["| module | mutants | killed | score |", "|---|---|---|---|"]
    lines += [f"| {s.module} | {s.mutants} | {s.killed} | {s.percent:.1f} % |" for s in scores]
    return "\n".join(lines)


def _run_mutmut(modules: Sequence[str], workers: int, log: Path) -> int:
    """mutmut on the modules' mutants, its progress output to ``log``; its exit code."""
    _WORK.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)]
    with log.open("w", encoding="utf-8") as out:
        return subprocess.run(
            [*command, *patterns(modules)], stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Run mutmut on the named modules (default all) and print the table; exit 2 when mutmut
    itself fails (its output is kept in ``mutants/mutate.log``)."""
    parser = argparse.ArgumentParser(prog="ops/mutate", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once (2)")
    parser.add_argument("--survivors", action="store_true", help="list the mutants not killed")
    parser.add_argument(
        "--report-only", action="store_true", help="print the figures of the last run"
    )
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"no module {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    modules = list(dict.fromkeys(args.modules)) or list(DEFAULT)
    if not args.report_only:
        log = _WORK / "mutate.log"
        code = _run_mutmut(modules, args.workers, log)
        if code != 0:
            print(_tail(log), file=sys.stderr)
            print(f"ops/mutate: mutmut failed (exit {code}); see {log}", file=sys.stderr)
            return 2
    scores = [score(m) for m in modules]
    print(table(scores))
    if args.survivors:
        _print_survivors(scores)
    return 0


def _print_survivors(scores: Iterable[Score]) -> None:
    for s in scores:
        for name in s.survivors:
            print(f"  {s.module}: {name}")


def _tail(log: Path, lines: int = 30) -> str:
    """The end of mutmut's output, without its spinner's redrawn lines."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(kept[-lines:])


if __name__ == "__main__":
    sys.exit(main())
