"""The exchange under repeated faults, then checked as an agency and an overseer would.

``ops/chaos [--rounds N] [--reports R] [--seed S] [--json]`` starts a broker of its own (fresh
ports and data under ``$INTELSHARE_HOME/chaos/``: it kills it), sets up the benchmark's
exchange (three agreements cover every report) and runs N rounds. Each round submits R reports
and, while they are being processed, injects one fault, in turn:

- ``worker``: kill -9 of the whole worker (every agent process), then a new worker;
- ``agent``: kill -9 of one agent process, which its worker starts again;
- ``broker``: kill -9 of the broker, the worker left running, then the broker restarted;
- ``cold``: kill -9 of the broker and the worker, a new worker started while the broker is down
  (it waits for it), then the broker restarted.

At the end, from its own read_committed consumers, it checks that every (report, agreement) pair
was disclosed exactly once, that the audit log has one record per disclosure and no other, and
that ``intelshare audit verify`` finds the chain sound and every feed reconciled. It prints the
figures; exit 1 when anything was lost, duplicated or unsound.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ops import broker, cputime
from ops.bench_exchange import AGENCIES, make_reports, setup, submit_reports
from ops.runtime import free_port, isolated, launch_worker, stop_worker, wait_for
from streams.core.codec import record_codec
from streams.kafka.auditlog import audit_records
from streams.kafka.clients import read_topic
from streams.log import configure_logging
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["FAULTS", "main", "run"]

FAULTS = ("worker", "agent", "broker", "cold")


class _Exchange:
    """The broker and the worker of one chaos run, and how to hurt them."""

    def __init__(self, base: Settings, now: datetime) -> None:
        self.base = base
        broker.start(base)
        self.settings, self.work, self.port = isolated(base, "chaos", now)
        setup(self.settings, now)
        self.env = dict(os.environ) | {"INTELSHARE_BROKER_WAIT": "120"}
        self.worker: subprocess.Popen[bytes] | None = None
        self.start_worker()

    def start_worker(self, wait: bool = True) -> None:
        log = self.work / "worker.log"
        if wait:
            self.worker = launch_worker(log, self.port, self.env)
            return
        with log.open("ab") as out:  # the broker is down: it cannot report ready yet
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"], env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill_worker(self) -> None:
        if self.worker is not None:
            stop_worker(self.worker, kill=True)

    def kill_agent(self, rng: random.Random) -> None:
        assert self.worker is not None
        processes = cputime.snapshot([self.worker.pid])
        agents = sorted(pid for pid, p in processes.items() if p.agent != "worker")
        os.kill(rng.choice(agents), signal.SIGKILL)

    def kill_broker(self) -> None:
        pid = broker.status(self.base).pid
        if pid:
            os.kill(pid, signal.SIGKILL)
            wait_for("the broker to die", lambda: not broker.status(self.base).running, 30)

    def restart_broker(self) -> None:
        broker.start(self.base)

    def close(self) -> None:
        if self.worker is not None:
            stop_worker(self.worker)
        broker.stop(self.base)


def _fault(x: _Exchange, fault: str, rng: random.Random, expected: int) -> bool:
    """Inject ``fault`` soon after a round's reports were sent; True when it came mid-stream
    (fewer audit records committed than the rounds so far expect)."""
    time.sleep(rng.uniform(0.2, 1.0))
    mid_stream = len(read_topic(x.settings, Topics(x.settings.topic_prefix).audit)) < expected
    if fault == "worker":
        x.kill_worker()
        x.start_worker()
    elif fault == "agent":
        x.kill_agent(rng)
    elif fault == "broker":
        x.kill_broker()
        time.sleep(rng.uniform(1, 4))
        x.restart_broker()
    else:
        x.kill_broker()
        x.kill_worker()
        x.start_worker(wait=False)
        time.sleep(rng.uniform(2, 5))
        x.restart_broker()
        wait_for("the worker to be ready", lambda: x.worker is not None and _ready(x), 120)
    return mid_stream


def _ready(x: _Exchange) -> bool:
    from ops.runtime import worker_status

    return bool((worker_status(x.port) or {}).get("ready"))


def _delivered(settings: Settings) -> Counter[tuple[str, str]]:
    """Each (event, agreement) pair on the feeds, as a read_committed consumer reads them."""
    codec = record_codec(settings.schemas_dir, "Disclosure")
    topics = Topics(settings.topic_prefix)
    found: Counter[tuple[str, str]] = Counter()
    for agency in AGENCIES:
        for record in read_topic(settings, topics.feed(agency)):
            disclosure = codec.decode(record.value)
            found[disclosure["event_id"], disclosure["agreement_id"]] += 1
    return found


def run(rounds: int, reports: int, seed: int, base: Settings) -> dict[str, Any]:
    """Run the rounds on a broker of its own under ``base``; the figures."""
    rng = random.Random(seed)  # noqa: S311  # fault timing, not secrets
    now = datetime.now(UTC)
    x = _Exchange(base, now)
    faults: Counter[str] = Counter()
    expected: set[tuple[str, str]] = set()
    mid_stream = 0
    began = time.monotonic()
    try:
        batch = make_reports(rounds * reports, now)
        agreements = [f"BENCH-{a.upper()}" for a in AGENCIES]
        for number in range(rounds):
            part = batch[number * reports : (number + 1) * reports]
            submit_reports(x.settings, part, 0)
            expected |= {(str(r["event_id"]).lower(), a) for r in part for a in agreements}
            fault = FAULTS[number % len(FAULTS)]
            mid_stream += _fault(x, fault, rng, len(expected))
            faults[fault] += 1
        wait_for(
            "every disclosure",
            lambda: (
                len(_disclosures(audit_records(x.settings))) >= len(expected)
                and sum(_delivered(x.settings).values()) >= len(expected)
            ),
            600,
        )
        time.sleep(3)  # anything doubled would land by now
        delivered = _delivered(x.settings)
        records = audit_records(x.settings)
        audited = Counter((r["event_id"], r["agreement_id"]) for r in _disclosures(records))
        collected = Counter(r["event_id"] for r in records if r["kind"] == "collection")
        events = {event for event, _ in expected}
        verify = subprocess.run(
            [sys.executable, "-m", "streams.cli", "audit", "verify"],
            env=dict(os.environ), capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        x.close()
    return {
        "rounds": rounds,
        "faults": dict(faults),
        "faults_mid_stream": mid_stream,
        "reports": rounds * reports,
        "expected_disclosures": len(expected),
        "delivered": sum(delivered.values()),
        "lost": len(expected - set(delivered)),
        "duplicated": sum(n - 1 for n in delivered.values() if n > 1),
        "unexpected": len(set(delivered) - expected),
        "audit_records": sum(audited.values()),
        "audit_equals_feeds": audited == delivered,
        "collections": sum(collected.values()),
        "collected_once_each": set(collected) == events and max(collected.values(), default=0) == 1,
        "chain_sound": verify.returncode == 0,
        "verify": verify.stdout.strip().splitlines()[-1:] or verify.stderr.strip()[-300:],
        "seconds": round(time.monotonic() - began, 1),
    }


def _disclosures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The disclosures' records (the others: the report's collection, ... see
    streams.core.operations)."""
    return [r for r in records if r["kind"] == "disclosure"]


def _sound(figures: dict[str, Any]) -> bool:
    return bool(
        figures["lost"] == figures["duplicated"] == figures["unexpected"] == 0
        and figures["audit_equals_feeds"]
        and figures["collected_once_each"]
        and figures["chain_sound"]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ops/chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="one fault each (default 8)")
    parser.add_argument("--reports", type=int, default=400, help="per round (default 400)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reports < 1:
        parser.error("--rounds and --reports must be at least 1")
    configure_logging("warning")
    base = Settings.load()
    home = (base.home / "chaos-broker").resolve()
    port = free_port()
    os.environ.update(
        INTELSHARE_BROKER_PORT=str(port), INTELSHARE_CONTROLLER_PORT=str(free_port()),
        INTELSHARE_BROKER_DIR=str(home / f"broker-{port}"),
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
    )  # fmt: skip
    with contextlib.redirect_stdout(sys.stderr):  # progress on stderr, figures on stdout
        figures = run(args.rounds, args.reports, args.seed, Settings.load())
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:<22} {value}")
    return 0 if _sound(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
