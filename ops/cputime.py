"""CPU time (user + system) of the worker processes, read from Linux's ``/proc``.

A worker is a supervisor process and one child per agent (``INTELSHARE_AGENT_PROCESS=1``, the
agent named by ``INTELSHARE_WORKER_AGENTS``); the benchmark takes a :func:`snapshot` of every
process of its workers before the first report and after the last audit record, and charges
the difference to the reports. A child started again between the two loses what its first life
spent, so a run with restarts reads low; the worker's log says when that happened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "ProcessTime",
    "parse_stat",
    "snapshot",
    "spent_by_agent",
    "spent_by_thread_kind",
    "thread_kind",
    "threads",
]

_TICKS = os.sysconf("SC_CLK_TCK")


class ProcessTime(NamedTuple):
    """One process of a worker at one moment."""

    agent: str
    """The agent it runs (``route-2`` for its instance 2), or ``worker`` for a supervisor."""
    seconds: float
    """CPU it has used so far, user and system."""


def parse_stat(text: str) -> tuple[int, float]:
    """The parent pid and the CPU seconds (utime + stime) in the text of ``/proc/PID/stat``.

    The command name, in parentheses, may itself hold spaces and parentheses; what follows its
    last ``)`` is field 3 (state) onward, so field 4 is the parent, 14 and 15 the CPU ticks.
    """
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _stat(pid: int) -> tuple[int, float] | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    return None


def _agent(pid: int) -> str:
    """The agent a worker's child runs, from its environment, with its instance number if not
    the first; ``worker`` for a supervisor."""
    with contextlib.suppress(OSError):
        environ = dict(
            entry.split(b"=", 1)
            for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if b"=" in entry
        )
        if environ.get(b"INTELSHARE_AGENT_PROCESS") == b"1":
            agent = environ.get(b"INTELSHARE_WORKER_AGENTS", b"agent").decode()
            instance = environ.get(b"INTELSHARE_WORKER_INSTANCE", b"1").decode()
            return agent if instance == "1" else f"{agent}-{instance}"
    return "worker"


def snapshot(workers: Iterable[int]) -> dict[int, ProcessTime]:
    """The CPU used so far by each of ``workers`` (supervisor pids) and by their children."""
    wanted = set(workers)
    found: dict[int, ProcessTime] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is not None and (pid in wanted or stat[0] in wanted):
            found[pid] = ProcessTime("worker" if pid in wanted else _agent(pid), stat[1])
    return found


def spent_by_agent(
    before: Mapping[int, ProcessTime], after: Mapping[int, ProcessTime]
) -> dict[str, float]:
    """CPU seconds each agent (and ``worker``, the supervisors) used between two snapshots;
    a process born in between counts from zero."""
    spent: dict[str, float] = {}
    for pid, now in after.items():
        earlier = before.get(pid)
        used = now.seconds - (earlier.seconds if earlier is not None else 0.0)
        spent[now.agent] = spent.get(now.agent, 0.0) + used
    return spent


def thread_kind(name: str) -> str:
    """What a thread of an agent's process is, by its OS name: librdkafka names its threads
    ``rdk:...``, RocksDB ``rocksdb:...``; Python's threads keep the process's name."""
    if name.startswith("rdk:"):
        return "librdkafka"
    if name.startswith("rocksdb"):
        return "rocksdb"
    return "python"


def threads(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of ``pid``: its OS name and the CPU seconds it has used so far."""
    found: dict[int, tuple[str, float]] = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                text = (task / "stat").read_text()
                name = text.split("(", 1)[1].rsplit(")", 1)[0]
                found[int(task.name)] = (name, parse_stat(text)[1])
    return found


def spent_by_thread_kind(
    before: Mapping[int, tuple[str, float]], after: Mapping[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds of one process between two :func:`threads` looks, per :func:`thread_kind`;
    a thread born in between counts from zero (one that ended in between is lost)."""
    spent: dict[str, float] = {}
    for tid, (name, seconds) in after.items():
        earlier = before.get(tid)
        used = seconds - (earlier[1] if earlier is not None else 0.0)
        spent[thread_kind(name)] = spent.get(thread_kind(name), 0.0) + used
    return spent
