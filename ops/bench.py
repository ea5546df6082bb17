"""Benchmark of the running pipeline against the raw Kafka floor, measured in the same run.

``ops/bench [--reports N]``: starts the local broker if needed, sets up an exchange under a
fresh topic prefix (three agencies whose agreements each cover every report, so each report is
disclosed three times), runs the worker, submits N generated reports and follows the three
feeds. It prints:

- end-to-end throughput: reports per second from the first submission to the last audit
  record;
- latency p50/p95/p99 from a report's submission (its record timestamp on
  ``intel.submissions``) to the moment the agency's read_committed consumer has the disclosure;
- the raw Kafka floor on the same broker: N messages of the same mean size produced
  (idempotent, acks=all) and consumed through one topic, and the ratio of the two.

The machine is shared and noisy: compare the ratio, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml
from kafka import TopicPartition

from ops import broker
from ops.demo import intelshare
from ops.demo_data import of_type, reference_data
from ops.runtime import free_port, isolated, launch_worker, stop_worker, wait_for
from ops.workload import workload
from streams.core.codec import record_codec
from streams.kafka.clients import consumer, create_topics, producer, read_topic
from streams.kafka.submit import Candidate, Submitter
from streams.log import configure_logging
from streams.settings import Settings
from streams.topics import Topics, TopicSpec

AGENCIES = ("b-one", "b-two", "b-three")
FLOOR = "bench.floor"
"""The raw-floor topic: the benchmark's own, outside the exchange's catalogue."""
DISCLOSE = ["event_id", "kind", "occurred_at", "facility_id", "category", "subjects", "narrative"]


def _agreement(agency: str, now: datetime) -> dict[str, Any]:
    """An agreement that covers every benchmark report: each is disclosed once per agency."""
    return {
        "id": f"BENCH-{agency.upper()}",
        "version": 1,
        "recipient": agency,
        "purpose": "benchmark",
        "legal_basis": "benchmark",
        "revoked": False,
        "valid_from": datetime(now.year, 1, 1, tzinfo=UTC),
        "valid_until": datetime(now.year + 1, 1, 1, tzinfo=UTC),
        "match": {"countries": ["KZ"], "max_tlp": "AMBER", "handling": ["P"]},
        "disclose": DISCLOSE,
        "pseudonymise": ["subjects.subject_id"],
    }


class FeedFollower(threading.Thread):
    """Follows one feed, noting when each disclosure became readable."""

    def __init__(self, settings: Settings, topic: str) -> None:
        super().__init__(daemon=True)
        self.settings, self.topic = settings, topic
        self.arrivals: list[tuple[bytes, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        client = consumer(self.settings, group_id=None)
        try:
            client.assign(
                [TopicPartition(self.topic, p) for p in client.partitions_for_topic(self.topic)]
            )
            client.seek_to_beginning()
            while not self.stopping.is_set():
                for batch in client.poll(timeout_ms=200).values():
                    now = time.time()
                    self.arrivals.extend((record.value, now) for record in batch)
        finally:
            client.close()


def _committed_count(settings: Settings, topic: str) -> int:
    """How many records a read_committed consumer reads from the start of ``topic``."""
    client = consumer(settings, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in client.partitions_for_topic(topic)]
        client.assign(partitions)
        client.seek_to_beginning()
        count = 0
        while True:
            batch = client.poll(timeout_ms=300)
            if not batch:
                return count
            count += sum(len(records) for records in batch.values())
    finally:
        client.close()


def raw_floor(settings: Settings, count: int, size: int) -> float:
    """Seconds to produce and consume ``count`` messages of ``size`` bytes through one topic."""
    topic = settings.topic_prefix + FLOOR
    create_topics(settings, [TopicSpec(FLOOR, 3, {}, "raw Kafka floor")])
    payload = os.urandom(size)
    started = time.monotonic()
    client = producer(settings)
    for i in range(count):
        client.send(topic, key=str(i).encode(), value=payload)
    client.flush()
    client.close()
    reader = consumer(settings, group_id=None)
    reader.assign([TopicPartition(topic, p) for p in range(3)])
    reader.seek_to_beginning()
    seen = 0
    while seen < count:
        seen += sum(len(b) for b in reader.poll(timeout_ms=500).values())
    reader.close()
    return time.monotonic() - started


def setup(settings: Settings, now: datetime) -> None:
    """Exchange keys, three agencies, Kazakhstan's reference data, three agreements."""
    work = settings.home
    intelshare("topics", "create", quiet=True)
    intelshare("keys", "generate", "--exchange", quiet=True)
    for agency in AGENCIES:
        intelshare("keys", "generate", "--agency", agency, quiet=True)
        pub = str(work / "keys" / f"{agency}.pub")
        intelshare("agencies", "register", "--id", agency, "--name", agency, "--public-key", pub)
    rng = random.Random(7)  # noqa: S311  # benchmark data, not secrets
    kazakhstan = [
        line
        for line in reference_data(rng)
        if str(line.get("facility_id") or line.get("subject_id")).startswith("KZ-")
    ]
    (work / "reference.jsonl").write_text("\n".join(json.dumps(x) for x in kazakhstan))
    intelshare("reference", "load", str(work / "reference.jsonl"), quiet=True)
    (work / "agreements.yaml").write_text(yaml.safe_dump([_agreement(a, now) for a in AGENCIES]))
    intelshare("agreements", "apply", str(work / "agreements.yaml"), quiet=True)


def measure(settings: Settings, count: int, now: datetime, rate: float | None) -> dict[str, Any]:
    """Submit ``count`` reports (all at once, or paced at ``rate`` per second), follow the feeds
    until every disclosure arrived, then measure the floor."""
    reference = reference_data(random.Random(7))  # noqa: S311  # what setup() loaded, and more
    agreements = [_agreement(a, now) for a in AGENCIES]
    facilities, subjects = of_type(reference, "facility"), of_type(reference, "subject")
    rng = random.Random(11)  # noqa: S311  # benchmark data, not secrets
    # every report matches all three of the benchmark's agreements
    reports = list(
        workload(
            rng, count, facilities, subjects, now=now, agreements=agreements,
            agreements_per_report=len(AGENCIES),
        )
    )  # fmt: skip
    topics = Topics(settings.topic_prefix)
    followers = [FeedFollower(settings, topics.feed(a)) for a in AGENCIES]
    for follower in followers:
        follower.start()
    print(f"submitting {count} reports {f'at {rate:g}/s' if rate else 'at once'} ...", flush=True)
    sent = 0
    with Submitter(settings) as submitter:
        chunk = max(1, int(rate / 10)) if rate else count
        began = time.monotonic()
        for start in range(0, count, chunk):
            if rate:
                time.sleep(max(0.0, began + start / rate - time.monotonic()))
            part = reports[start : start + chunk]
            result = submitter.submit(Candidate(str(i), r, None) for i, r in enumerate(part))
            sent += len(result.sent)
    expected = len(AGENCIES) * sent
    wait_for("every disclosure", lambda: sum(len(f.arrivals) for f in followers) >= expected, 1800)
    for follower in followers:
        follower.stopping.set()
    wait_for(
        "every audit record", lambda: _committed_count(settings, topics.audit) >= expected, 600
    )
    submissions = read_topic(settings, topics.submissions)
    sent_at = {r.key: r.timestamp / 1000 for r in submissions}
    audit = read_topic(settings, topics.audit)
    first, last = min(sent_at.values()), max(r.timestamp / 1000 for r in audit)
    codec = record_codec(settings.schemas_dir, "Disclosure")
    latencies = sorted(
        arrived - sent_at[codec.decode(value)["event_id"].encode()]
        for follower in followers
        for value, arrived in follower.arrivals
    )
    size = int(statistics.mean(len(r.value) for r in submissions))
    floor = raw_floor(settings, count, size)
    throughput = count / (last - first)
    q = statistics.quantiles(latencies, n=100)
    return {
        "reports": count,
        "disclosures": len(latencies),
        "audit_records": len(audit),
        "mean_report_bytes": size,
        "pipeline_seconds": round(last - first, 2),
        "pipeline_reports_per_s": round(throughput, 1),
        "latency_p50_ms": round(q[49] * 1000),
        "latency_p95_ms": round(q[94] * 1000),
        "latency_p99_ms": round(q[98] * 1000),
        "floor_seconds": round(floor, 2),
        "floor_messages_per_s": round(count / floor, 1),
        "pipeline_over_floor": round(throughput / (count / floor), 3),
    }


def run(
    base: Settings, count: int, rate: float | None = None, split: bool = False
) -> dict[str, Any]:
    """Set up under a fresh prefix, run the worker, measure, and stop what was started."""
    now = datetime.now(UTC)
    started_here = not broker.status(base).answering
    broker.start(base)
    worker = route_worker = None
    try:
        settings, work, port = isolated(base, "bench", now)
        setup(settings, now)
        if split:
            # route, the costliest agent, in a process of its own: two cores instead of one
            env = dict(os.environ) | {"INTELSHARE_WORKER_AGENTS": "intake,enrich,sequencer"}
            worker = launch_worker(work / "worker.log", port, env)
            route_port = free_port()
            route_env = dict(os.environ) | {
                "INTELSHARE_WORKER_AGENTS": "route",
                "INTELSHARE_WEB_PORT": str(route_port),
            }
            route_worker = launch_worker(work / "route-worker.log", route_port, route_env)
        else:
            worker = launch_worker(work / "worker.log", port)
        figures = measure(settings, count, now, rate)
        return figures | {"submit_rate_per_s": rate or "all at once", "route_in_own_process": split}
    finally:
        for process in (worker, route_worker):
            if process is not None:
                stop_worker(process)
        if started_here:
            broker.stop(base)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ops/bench``."""
    parser = argparse.ArgumentParser(prog="ops/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=20_000, help="how many (default 20000)")
    parser.add_argument(
        "--rate", type=float, help="submit this many per second (default: all at once, a burst)"
    )
    parser.add_argument(
        "--split", action="store_true", help="run the route agent in a worker process of its own"
    )
    args = parser.parse_args(argv)
    settings = Settings.load()
    configure_logging("error")
    figures = run(settings, args.reports, args.rate, args.split)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
