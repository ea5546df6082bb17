"""Re-measures the stream-engine comparison of docs/decisions/0001-stream-engine.md.

``ops/engine-eval [--bootstrap HOST:PORT] [--records N] [--engines faust,faust-static,quix]``,
outside CI. Per engine: installs it into a throwaway virtualenv (never the project's .venv);
runs a route-shaped processor there (per input record, one output keyed like the input and one
audit record to a single-partition topic, both in the engine's transaction) over N records;
kills it with SIGKILL at about 40 %, restarts it at once, and reads both outputs read_committed.
Prints a markdown table: restart time (kill to the first committed output of the new process),
duplicates, lost records, pairs split (an output without its audit record or the reverse).
Every wait is bounded (``--timeout``); every child process is killed on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

__all__ = ["ENGINES", "Engine", "Outcome", "main", "table"]

FAUST = "faust-streaming==0.15.3"
"""The newest faust-streaming on PyPI on 2026-11-28."""
QUIX = "quixstreams==3.28.1"

FAUST_PROGRAM = """
import asyncio, json, sys
from pathlib import Path
import faust

cfg = json.loads(sys.argv[1])
prefix, progress = cfg["prefix"], Path(cfg["dir"], "progress-%d" % cfg["run"])
options = dict(broker="kafka://" + cfg["bootstrap"], processing_guarantee="exactly_once",
               datadir=cfg["dir"] + "/state", web_enabled=False, topic_partitions=cfg["partitions"])
if cfg["static"]:
    options.update(consumer_group_instance_id=prefix + "group-0", broker_session_timeout=10.0)
app = faust.App(prefix + "group", **options)
raw = dict(key_serializer="raw", value_serializer="raw")
source, output, audit = (app.topic(prefix + n, **raw) for n in ("in", "out", "audit"))
seen = 0
@app.agent(source)
async def route(stream):
    global seen
    async for key, value in stream.items():
        await asyncio.sleep(cfg["work_ms"] / 1000)
        record = json.loads(value)
        record["run"] = cfg["run"]
        body = json.dumps(record).encode()
        await output.send(key=key, value=body)
        await audit.send(key=str(record["id"]).encode(), value=body)
        seen += 1
        if seen % 50 == 0:
            progress.write_text(str(seen))
async def downstream(stream):
    async for _ in stream: pass
if cfg["chained"]:  # the outputs are read by agents of the same app, as in a faust pipeline
    app.agent(output, name="read-output")(downstream)
    app.agent(audit, name="read-audit")(downstream)
sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
app.main()
"""

QUIX_PROGRAM = """
import json, sys, time
from pathlib import Path
from quixstreams import Application

cfg = json.loads(sys.argv[1])
prefix, progress = cfg["prefix"], Path(cfg["dir"], "progress-%d" % cfg["run"])
static = {"group.instance.id": prefix + "group-0", "session.timeout.ms": 10000}
app = Application(
    broker_address=cfg["bootstrap"], consumer_group=prefix + "group", auto_offset_reset="earliest",
    processing_guarantee="exactly-once", commit_interval=0.2,
    producer_extra_config={"transactional.id": prefix + "group-0"},
    consumer_extra_config=static if cfg["static"] else {},
    state_dir=cfg["dir"] + "/state", auto_create_topics=False, use_changelog_topics=False,
    loglevel="WARNING",
)
source = app.topic(prefix + "in", key_deserializer="bytes", value_deserializer="json")
output = app.topic(prefix + "out", key_serializer="bytes", value_serializer="json")
audit = app.topic(prefix + "audit", key_serializer="bytes", value_serializer="json")
seen = 0
def work(record):
    global seen
    time.sleep(cfg["work_ms"] / 1000)
    record["run"] = cfg["run"]
    seen += 1
    if seen % 50 == 0:
        progress.write_text(str(seen))
    return record
sdf = app.dataframe(source).apply(work)
sdf.to_topic(output)
sdf.to_topic(audit, key=lambda record: str(record["id"]).encode())
app.run()
"""


class Engine(NamedTuple):
    """One way of running the processor."""

    requirement: str
    """What pip installs into the engine's virtualenv; it also picks the program."""
    label: str
    """The engine column of the table."""
    static: bool = False
    """Static group membership: a fixed group.instance.id, session timeout 10 s."""
    chained: bool = False
    """faust only: the same app also reads the output and audit topics."""


PROGRAMS = {FAUST: FAUST_PROGRAM, QUIX: QUIX_PROGRAM}
ENGINES = {
    "faust": Engine(FAUST, "faust-streaming exactly_once"),
    "faust-static": Engine(FAUST, "faust-streaming exactly_once, static", True),
    "faust-chained": Engine(FAUST, "faust-streaming exactly_once, static, chained", True, True),
    "quix": Engine(QUIX, "quixstreams exactly-once, static", True),
    "quix-dynamic": Engine(QUIX, "quixstreams exactly-once, dynamic membership"),
}
DEFAULT_ENGINES = "faust,faust-static,quix"


class Outcome(NamedTuple):
    """What one crash test measured."""

    restart: float | None
    """Seconds from the kill to the first committed output of the restarted process."""
    dup_out: int
    dup_audit: int
    lost: int
    """Inputs with neither an output nor an audit record."""
    out_only: int
    """Inputs with an output and no audit record."""
    audit_only: int
    note: str


class Processes:
    """The child processes of this run, each in its own process group, all killed on exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
        self.running.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], grace: float = 0.0) -> None:
        """SIGTERM and ``grace`` seconds to stop, if any; then SIGKILL."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            if proc.poll() is None and wait > 0:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(wait)
        if proc in self.running:
            self.running.remove(proc)


def _venv(name: str, engine: Engine, work: Path, timeout: float) -> tuple[Path | None, str]:
    """The engine's virtualenv under ``work``, made once per requirement; and the installed
    version, or why pip could not install it."""
    package = engine.requirement.split("==")[0]
    home = work / f"venv-{package}"
    python = home / "bin" / "python"
    if not (home / ".installed").exists():
        print(f"{name}: installing {engine.requirement} ...", file=sys.stderr, flush=True)
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=timeout)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        done = subprocess.run(
            [*pip, engine.requirement], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            error = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            return None, f"not installable on Python {sys.version.split()[0]}: {error}"
        (home / ".installed").touch()
    dist = next(home.glob(f"lib/python*/site-packages/{package.replace('-', '_')}-*.dist-info"))
    return python, f"{package} {dist.name.split('-')[1].removesuffix('.dist')}"


def _feed(bootstrap: str, topic: str, records: int) -> None:
    """N input records, ids 0..N-1, keyed by one of 200 subjects."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for i in range(records):
        key = f"subject-{i % 200}".encode()
        producer.send(topic, key=key, value=json.dumps({"id": i, "key": key.decode()}).encode())
    producer.close(timeout=60)


class Tally:
    """Everything committed so far on the output and audit topics (read_committed)."""

    def __init__(self, bootstrap: str, output: str, audit: str, partitions: int) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
        self.audit_topic = audit
        tps = [TopicPartition(output, p) for p in range(partitions)]
        self.consumer.assign([*tps, TopicPartition(audit, 0)])
        self.consumer.seek_to_beginning()
        self.output: Counter[int] = Counter()
        self.audit: Counter[int] = Counter()
        self.first_seen: dict[int, float] = {}
        """Per run of the processor, when its first committed record was read."""
        self.last_new = time.monotonic()

    def poll(self) -> None:
        batches: dict[Any, list[Any]] = self.consumer.poll(timeout_ms=100)
        now = time.monotonic()
        for tp, records in batches.items():
            side = self.audit if tp.topic == self.audit_topic else self.output
            for record in records:
                value = json.loads(record.value)
                side[int(value["id"])] += 1
                self.first_seen.setdefault(int(value["run"]), now)
                self.last_new = now

    def complete(self, records: int) -> bool:
        return len(self.output) >= records and len(self.audit) >= records

    def outcome(self, records: int, restart: float | None, note: str) -> Outcome:
        out, audit = self.output, self.audit
        return Outcome(
            restart=restart,
            dup_out=sum(n - 1 for n in out.values()),
            dup_audit=sum(n - 1 for n in audit.values()),
            lost=sum(1 for i in range(records) if i not in out and i not in audit),
            out_only=sum(1 for i in range(records) if i in out and i not in audit),
            audit_only=sum(1 for i in range(records) if i in audit and i not in out),
            note=note,
        )


def _progress(path: Path) -> int:
    with suppress(OSError, ValueError):
        return int(path.read_text() or 0)
    return 0


def _last_line(log: Path) -> str:
    """The log's last line, without terminal colours: why a processor stopped."""
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", log.read_text(errors="replace")).splitlines()
    return next((line.strip()[:200] for line in reversed(lines) if line.strip()), "")


def crash_test(
    name: str, python: Path, args: argparse.Namespace, work: Path, procs: Processes
) -> Outcome:
    """Run, kill -9 at ``args.kill_at``, restart at once, and count what was committed."""
    engine = ENGINES[name]
    prefix = f"engine-eval-{datetime.now(UTC):%Y%m%d%H%M%S}-{name}-"
    topics = {prefix + "in": args.partitions, prefix + "out": args.partitions, prefix + "audit": 1}
    with closing(KafkaAdminClient(bootstrap_servers=args.bootstrap)) as admin:
        admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()], timeout_ms=30_000)
    _feed(args.bootstrap, prefix + "in", args.records)
    run_dir = work / prefix.rstrip("-")
    run_dir.mkdir()
    program = run_dir / "processor.py"
    program.write_text(PROGRAMS[engine.requirement])
    tally = Tally(args.bootstrap, prefix + "out", prefix + "audit", args.partitions)

    def start(run: int) -> subprocess.Popen[bytes]:
        cfg = {**vars(args), **engine._asdict(), "prefix": prefix, "run": run, "dir": str(run_dir)}
        argv = [str(python), str(program), json.dumps(cfg)]
        return procs.start(argv, run_dir / f"run-{run}.log")

    try:
        first = start(1)
        deadline = time.monotonic() + args.timeout
        kill_at = int(args.records * args.kill_at)
        while _progress(run_dir / "progress-1") < kill_at:
            tally.poll()
            if first.poll() is not None or time.monotonic() > deadline:
                why = _last_line(run_dir / "run-1.log")
                return tally.outcome(args.records, None, f"run 1 stopped before {kill_at}: {why}")
        os.kill(first.pid, signal.SIGKILL)
        killed = time.monotonic()
        procs.kill(first)
        second = start(2)
        done_at: float | None = None
        while time.monotonic() < killed + args.timeout and second.poll() is None:
            tally.poll()
            now = time.monotonic()
            if done_at is None and tally.complete(args.records):
                done_at = now
            if done_at is not None and now - done_at > args.settle:
                break
            if 2 in tally.first_seen and now - tally.last_new > args.idle:
                break
        note = "" if tally.complete(args.records) else "incomplete when stopped"
        if second.poll() is not None:
            note = f"run 2 exited ({second.returncode}): {_last_line(run_dir / 'run-2.log')}"
        procs.kill(second, grace=15)
        end = time.monotonic() + args.settle
        while time.monotonic() < end:
            tally.poll()
        seen = tally.first_seen.get(2)
        return tally.outcome(args.records, None if seen is None else seen - killed, note)
    finally:
        tally.consumer.close()
        if not args.keep_topics:
            with (
                suppress(Exception),
                closing(KafkaAdminClient(bootstrap_servers=args.bootstrap)) as admin,
            ):
                ours = [t for t in admin.list_topics() if t.startswith(prefix)]
                admin.delete_topics(ours, timeout_ms=30_000)


def table(rows: list[tuple[str, Outcome | str]]) -> str:
    """The markdown table of the outcomes, or of why an engine did not run."""
    lines = [
        "| engine | restart s | duplicates out/audit | lost | pairs split | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, outcome in rows:
        if isinstance(outcome, str):
            lines.append(f"| {label} | - | - | - | - | {outcome} |")
            continue
        o = outcome
        restart = "-" if o.restart is None else f"{o.restart:.1f}"
        split = o.out_only + o.audit_only
        sides = f" ({o.out_only} without audit, {o.audit_only} without output)" if split else ""
        lines.append(
            f"| {label} | {restart} | {o.dup_out}/{o.dup_audit} | {o.lost} | {split}{sides} "
            f"| {o.note} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ops/engine-eval", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--bootstrap", default="127.0.0.1:9092", help="the Kafka broker (default %(default)s)")
    add("--records", type=int, default=5000, help="input records (default %(default)s)")
    add("--engines", default=DEFAULT_ENGINES, help=f"comma-separated, of: {', '.join(ENGINES)}")
    add("--partitions", type=int, default=4, help="of the input and output topics")
    add("--kill-at", type=float, default=0.4, help="fraction processed at the kill")
    add("--work-ms", type=float, default=2.0, help="processing time per record, ms")
    add("--timeout", type=float, default=300.0, help="bound of each wait and install, s")
    add("--settle", type=float, default=6.0, help="read on after the last expected record, s")
    add("--idle", type=float, default=30.0, help="stop when nothing new for this long, s")
    add("--workdir", help="keep virtualenvs, programs and logs here (default: a temp folder)")
    add("--keep-topics", action="store_true", help="do not delete this run's topics")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    if unknown := [n for n in names if n not in ENGINES]:
        parser.error(f"unknown engine(s) {unknown}; choose from {list(ENGINES)}")
    procs = Processes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[tuple[str, Outcome | str]] = []
    started = datetime.now(UTC)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="engine-eval-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            python, version = _venv(name, ENGINES[name], work, args.timeout)
            if python is None:
                rows.append((ENGINES[name].label, version))
                continue
            print(f"{name}: crash test ...", file=sys.stderr, flush=True)
            outcome = crash_test(name, python, args, work, procs)
            rows.append((f"{ENGINES[name].label} ({version})", outcome))
    finally:
        for proc in list(procs.running):
            procs.kill(proc)
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.records} records, {args.partitions} partitions, kill -9 at {args.kill_at:.0%}, "
        f"{args.bootstrap}, {started:%Y-%m-%d %H:%M} UTC\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
