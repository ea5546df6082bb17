"""Where the pipeline's time goes: each agent's process sampled by py-spy while N reports pass.

``ops/profile [--reports N] [--top K] [--hz HZ]``: sets up the benchmark's exchange
(:mod:`ops.bench_exchange`, three disclosures per report; the broker at
``KAFKA_BOOTSTRAP_SERVERS`` if it answers, else the local one), attaches
``py-spy record --gil --nonblocking --format raw --function`` to each agent's process of the
worker, submits N reports in one burst, and stops sampling once the bench has read the last
audit record. For each agent it prints the CPU its process used per report over the run, split
by kind of OS thread (Python's, librdkafka's ``rdk:*``, RocksDB's), from ``/proc``
(:mod:`ops.cputime`); then the K functions with the most samples of their own (self) and the K
with the most samples anywhere on the stack (total), each as a share of the samples and as
that share of the Python threads' µs per report.

Only the thread that holds the GIL is sampled: without ``--gil``, py-spy counted threads asleep
in ``time.sleep`` or ``Event.wait`` as running here (on a loaded machine), and a librdkafka
call that releases the GIL to wait is no CPU of Python's. Time in C that keeps the GIL (fastavro,
cryptography) shows as the self time of the Python function that called it. The raw samples
and the summary stay in ``$INTELSHARE_HOME/profile/<stamp>/samples/``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from ops import cputime
from ops.bench_exchange import Follower, make_reports, running, submit_reports
from streams.errors import IntelshareError
from streams.log import configure_logging
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["Profile", "main", "summarise"]


class Profile(NamedTuple):
    """One process's samples, counted per function."""

    samples: int
    """Samples in all (of the thread that held the GIL)."""
    own: Counter[str]
    """Per function: samples with it at the top of the stack (self)."""
    anywhere: Counter[str]
    """Per function: samples with it anywhere on the stack, once per sample (total), leaving
    out the frames every stack of its thread's root shares (``main``, ``Thread.run``...)."""


def _short(frame: str) -> str:
    """``name (path:line)`` with the path from the package on (``quixstreams/app.py``)."""
    name, _, where = frame.partition(" (")
    for marker in ("site-packages/", "/lib/python3.11/", f"{Path.cwd()}/"):
        if marker in where:
            where = where.rsplit(marker, 1)[1]
    return f"{name} ({where}" if where else name


def _shared(stacks: list[list[str]]) -> int:
    """How many outermost frames all of ``stacks`` have in common."""
    depth = 0
    while all(len(s) > depth and s[depth] == stacks[0][depth] for s in stacks):
        depth += 1
    return depth


def summarise(raw: str) -> Profile:
    """Count py-spy's ``--format raw`` output: one line per distinct stack, its frames
    outermost first and separated by ``;``, then a space and how many samples had it."""
    stacks: list[tuple[list[str], int]] = []
    for line in raw.splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            stacks.append(([_short(frame) for frame in stack.split(";")], int(samples)))
    roots: dict[str, list[list[str]]] = {}
    for frames, _ in stacks:
        roots.setdefault(frames[0], []).append(frames)
    shared = {root: _shared(members) for root, members in roots.items()}
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
        for frame in set(frames[shared[frames[0]] :]):
            anywhere[frame] += count
    return Profile(sum(count for _, count in stacks), own, anywhere)


def report(agent: str, profile: Profile, cpu_us: dict[str, float], top: int) -> str:
    """The ``top`` functions by self and by total samples, each with its share of the
    samples times the µs of CPU per report of the agent's Python threads."""
    split = ", ".join(f"{kind} {us:.0f}" for kind, us in sorted(cpu_us.items()))
    lines = [f"== {agent}: {sum(cpu_us.values()):.0f} µs of CPU per report ({split})"]
    lines.append(f"   {profile.samples} samples of the thread holding the GIL")
    python = cpu_us.get("python", 0.0)
    for title, counts in (("self", profile.own), ("total", profile.anywhere)):
        lines.append(f"  {'share':>6}  {'µs/rep':>6}  top {top} by {title} time")
        for function, count in counts.most_common(top):
            share = count / profile.samples if profile.samples else 0.0
            lines.append(f"  {share:>6.1%}  {share * python:>6.0f}  {function}")
    return "\n".join(lines)


def _py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if found is None:
        raise IntelshareError("py-spy is not installed; run ops/setup (it is a test extra)")
    return found


def _sample(pid: int, out: Path, hz: int) -> subprocess.Popen[bytes]:
    """``py-spy record`` of ``pid`` until SIGINT, writing raw samples to ``out``."""
    command = [_py_spy(), "record", "--pid", str(pid), "--format", "raw", "--function"]
    command += ["--gil", "--nonblocking", "--rate", str(hz), "--output", str(out)]
    with out.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def profile(base: Settings, count: int, top: int, hz: int) -> str:
    """Run ``count`` reports through the profiled agents; return the summary (also written)."""
    now = datetime.now(UTC)
    with running(base, "profile", now) as (settings, workers):
        folder = settings.home / "samples"
        folder.mkdir(parents=True)
        pids = [w.pid for w in workers]
        agents = {p: t.agent for p, t in cputime.snapshot(pids).items() if t.agent != "worker"}
        spies = {agent: _sample(pid, folder / f"{agent}.txt", hz) for pid, agent in agents.items()}
        time.sleep(2)  # attached; a py-spy that could not attach has exited by now
        for agent, spy in spies.items():
            if spy.poll() is not None:
                said = (folder / f"{agent}.log").read_text(errors="replace")[-2000:]
                raise IntelshareError(f"py-spy could not sample {agent}:\n{said}")
        follower = Follower(settings, Topics(settings.topic_prefix))
        follower.start()
        print(f"profiling {count} reports through {', '.join(sorted(spies))} ...", flush=True)
        before = {pid: cputime.threads(pid) for pid in agents}
        sent, _ = submit_reports(settings, make_reports(count, now), 0)
        try:
            follower.wait_until_done(sent)
            spent = {
                agent: cputime.spent_by_thread_kind(before[pid], cputime.threads(pid))
                for pid, agent in agents.items()
            }
        finally:
            follower.stop()
            for spy in spies.values():
                with contextlib.suppress(ProcessLookupError):
                    spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            for spy in spies.values():
                spy.wait(60)
    parts = []
    for agent in sorted(spies):
        samples = summarise((folder / f"{agent}.txt").read_text())
        cpu_us = {kind: seconds / sent * 1e6 for kind, seconds in spent[agent].items()}
        parts.append(report(agent, samples, cpu_us, top))
    summary = "\n\n".join(parts) + "\n"
    (folder / "summary.txt").write_text(summary)
    return summary + f"\n(raw samples and this summary: {folder})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ops/profile``."""
    parser = argparse.ArgumentParser(prog="ops/profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=3000, help="how many (default 3000)")
    parser.add_argument("--top", type=int, default=15, help="functions per list (default 15)")
    parser.add_argument("--hz", type=int, default=200, help="samples a second (default 200)")
    args = parser.parse_args(argv)
    if min(args.reports, args.top, args.hz) < 1:
        parser.error("--reports, --top and --hz must be positive")
    settings = Settings.load()
    configure_logging("error")
    with contextlib.redirect_stdout(sys.stderr):  # progress on stderr, the summary on stdout
        summary = profile(settings, args.reports, args.top, args.hz)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
