"""Benchmark of the pipeline against the broker's and the Python client's floors, in one run.

``ops/bench [--reports N] [--rate R] [--route-instances K] [--json]``: uses the broker at
``KAFKA_BOOTSTRAP_SERVERS`` if it answers (else starts the local one, and stops it after), sets up
an exchange under a fresh topic prefix (three agencies whose agreements each cover every report,
so each report is disclosed three times), runs the worker (and K-1 more workers that run only
route, as instances 2..K), submits N generated reports (in one burst, or R a second), and
follows the three feeds and the audit log as a read_committed consumer. Then, with the workers
stopped, it measures the floors (:mod:`ops.floor`). It prints a table, or with ``--json`` one
JSON object:

- ``pipeline_reports_per_s``: reports over the time from the first submission (its record
  timestamp, the bench's own clock) to the moment the bench read the last audit record;
- ``latency_p50_ms`` .. ``p99``: from a report's submission to the moment the bench's
  read_committed consumer had each of its disclosures;
- ``cpu_us_per_report``: CPU (user + system) of every worker process over that same time, from
  ``/proc`` (:mod:`ops.cputime`), per report; ``cpu_us_per_report_by_agent`` splits it;
- ``broker_floor_*``: Kafka's ProducerPerformance and ConsumerPerformance, and
  ``client_floor_*`` confluent-kafka from Python, each moving ``floor_records`` records of the
  reports' mean encoded size through a topic of their own (idempotent, acks=all);
- ``pipeline_over_broker_floor``: reports per second over the slower of the broker's produce
  and consume rates (and the same over the client's floor).

The machine is shared and noisy: quote the ratios, not the absolute figures. The bench itself
runs on the same cores as the workers and the broker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ops import cputime
from ops.bench_exchange import Follower, make_reports, running, submit_reports
from ops.floor import client_floor, kafka_tools_floor
from ops.runtime import stop_worker
from streams.core.codec import record_codec
from streams.kafka.topics import create_topics
from streams.log import configure_logging
from streams.settings import Settings
from streams.topics import Topics, TopicSpec

FLOORS = ("bench.floor.kafka", "bench.floor.client")
"""The floors' topics: the benchmark's own, outside the exchange's catalogue."""
FLOOR_PARTITIONS = 3


def measure(
    settings: Settings, count: int, now: datetime, rate: float, workers: list[int]
) -> dict[str, Any]:
    """Submit ``count`` reports, follow the feeds and the audit log until every disclosure and
    its audit record arrived, and read the workers' CPU over that time."""
    reports = make_reports(count, now)
    topics = Topics(settings.topic_prefix)
    follower = Follower(settings, topics)
    follower.start()
    print(f"submitting {count} reports {f'at {rate:g}/s' if rate else 'at once'} ...", flush=True)
    cpu_before = cputime.snapshot(workers)
    sent, submit_seconds = submit_reports(settings, reports, rate)
    try:
        follower.wait_until_done(sent)
        cpu = cputime.spent_by_agent(cpu_before, cputime.snapshot(workers))
    finally:
        follower.stop()
    codec = record_codec(settings.schemas_dir, "Disclosure")
    sent_at = follower.submitted
    latencies = sorted(
        arrived - sent_at[codec.decode(value)["event_id"].encode()]
        for value, arrived in follower.arrivals
    )
    seconds = follower.last_audit - min(sent_at.values())
    q = statistics.quantiles(latencies, n=100)
    return {
        "reports": sent,
        "disclosures": len(latencies),
        "audit_records": follower.audited,
        "mean_report_bytes": round(follower.submitted_bytes / len(sent_at)),
        "submit_seconds": round(submit_seconds, 2),
        "pipeline_seconds": round(seconds, 2),
        "pipeline_reports_per_s": round(sent / seconds, 1),
        "pipeline_disclosures_per_s": round(len(latencies) / seconds, 1),
        "latency_p50_ms": round(q[49] * 1000),
        "latency_p95_ms": round(q[94] * 1000),
        "latency_p99_ms": round(q[98] * 1000),
        "cpu_us_per_report": round(sum(cpu.values()) / sent * 1e6),
        "cpu_us_per_report_by_agent": {a: round(s / sent * 1e6) for a, s in sorted(cpu.items())},
    }


def floors(settings: Settings, records: int, size: int) -> dict[str, Any]:
    """The broker's and the Python client's floors for ``records`` records of ``size`` bytes."""
    create_topics(settings, [TopicSpec(t, FLOOR_PARTITIONS, {}, "a bench floor") for t in FLOORS])
    kafka_topic, client_topic = (settings.topic_prefix + t for t in FLOORS)
    print(f"broker floor: Kafka's tools, {records} records of {size} bytes ...", flush=True)
    tools = kafka_tools_floor(settings, kafka_topic, records, size)
    print("client floor: confluent-kafka from Python ...", flush=True)
    client = client_floor(settings, client_topic, records, size)
    return {
        "floor_records": records,
        "broker_floor_produce_per_s": round(tools.produce_per_s),
        "broker_floor_consume_per_s": round(tools.consume_per_s),
        "client_floor_produce_per_s": round(client.produce_per_s),
        "client_floor_consume_per_s": round(client.consume_per_s),
        "client_floor_per_s": round(client.slower),
    }


def run(
    base: Settings, count: int, rate: float = 0, route_instances: int = 1,
    floor_records: int = 200_000,
) -> dict[str, Any]:  # fmt: skip
    """Set up under a fresh prefix, run the workers, measure, and stop what was started."""
    now = datetime.now(UTC)
    with running(base, "bench", now, route_instances) as (settings, workers):
        load = os.getloadavg()[0]
        figures = measure(settings, count, now, rate, [w.pid for w in workers])
        for process in workers:  # the floors are measured with the workers stopped
            stop_worker(process)
        floor = floors(settings, floor_records, figures["mean_report_bytes"])
    slowest = min(floor["broker_floor_produce_per_s"], floor["broker_floor_consume_per_s"])
    pipeline = figures["pipeline_reports_per_s"]
    return (
        figures
        | floor
        | {
            "pipeline_over_broker_floor": round(pipeline / slowest, 4),
            "pipeline_over_client_floor": round(pipeline / floor["client_floor_per_s"], 4),
            "route_instances": route_instances,
            "rate": rate,
            "cores": os.cpu_count(),
            "load_average_before": round(load, 2),
        }
    )


def table(figures: dict[str, Any]) -> str:
    """The figures as two aligned columns, the per-agent CPU on lines of their own."""
    lines = []
    width = max(map(len, figures))
    for key, value in figures.items():
        if isinstance(value, dict):
            lines.append(key)
            lines += [f"  {k:<{width - 2}}  {v}" for k, v in value.items()]
        else:
            lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ops/bench``."""
    parser = argparse.ArgumentParser(prog="ops/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=20_000, help="how many (default 20000)")
    parser.add_argument(
        "--rate", type=float, default=0, help="submit this many a second (default 0: one burst)"
    )
    parser.add_argument(
        "--route-instances", type=int, default=1,
        help="run route in this many instances, 2.. each in a worker of its own (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--floor-records", type=int, default=200_000,
        help="records each floor moves through its topic (default 200000)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    args = parser.parse_args(argv)
    if args.reports < 1 or args.route_instances < 1 or args.floor_records < 1 or args.rate < 0:
        parser.error("--reports, --route-instances and --floor-records must be positive")
    settings = Settings.load()
    configure_logging("error")
    with contextlib.redirect_stdout(sys.stderr):  # progress on stderr, figures on stdout
        figures = run(settings, args.reports, args.rate, args.route_instances, args.floor_records)
    print(json.dumps(figures) if args.json else table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
