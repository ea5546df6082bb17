"""The benchmark's exchange (``ops/bench``, ``ops/profile``): three agencies whose agreements
each cover every report, so that each report is disclosed three times; the reports, submitted in
one burst or at a pace; and a follower that notes when each disclosure and audit record became
readable, as a read_committed consumer reads them.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ops import broker
from ops.demo import intelshare
from ops.demo_data import of_type, reference_data
from ops.runtime import free_port, isolated, launch_worker, stop_worker, wait_for
from ops.workload import workload
from streams.kafka.clients import BrokerProbe, librdkafka_config
from streams.kafka.submit import Candidate, Submitter
from streams.settings import Settings
from streams.topics import Topics

__all__ = [
    "AGENCIES",
    "Follower",
    "bench_agreement",
    "make_reports",
    "running",
    "setup",
    "submit_reports",
]

AGENCIES = ("b-one", "b-two", "b-three")
DISCLOSE = ["event_id", "kind", "occurred_at", "facility_id", "category", "subjects", "narrative"]


def bench_agreement(agency: str, now: datetime) -> dict[str, Any]:
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


class Follower(threading.Thread):
    """Reads the submissions, the feeds and the audit log as a read_committed consumer would,
    noting when each feed record and the last audit record became readable."""

    def __init__(self, settings: Settings, topics: Topics) -> None:
        super().__init__(daemon=True)
        self.settings, self.topics = settings, topics
        self.feeds = {topics.feed(a) for a in AGENCIES}
        self.submitted: dict[bytes, float] = {}
        """Event id of each submission: its record timestamp, in seconds."""
        self.submitted_bytes = 0
        self.arrivals: list[tuple[bytes, float]] = []
        """Each disclosure, and when the bench read it."""
        self.audited = 0
        self.last_audit = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        config = librdkafka_config(self.settings) | {
            "group.id": f"bench-follower-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 20,  # the bench's own delay in seeing a record, at most
        }
        client = Consumer(config)
        try:
            names = [self.topics.submissions, self.topics.audit, *sorted(self.feeds)]
            assigned = []
            for name in names:
                partitions = client.list_topics(name, timeout=10).topics[name].partitions
                assigned += [TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions]
            client.assign(assigned)
            while not self.stopping.is_set():
                batch = client.consume(num_messages=5000, timeout=0.1)
                now = time.time()
                for message in batch:
                    if message.error() is not None:
                        continue
                    topic = message.topic()
                    if topic in self.feeds:
                        self.arrivals.append((message.value(), now))
                    elif topic == self.topics.audit:
                        self.audited += 1
                        self.last_audit = now
                    else:
                        self.submitted[message.key()] = message.timestamp()[1] / 1000
                        self.submitted_bytes += len(message.value())
        finally:
            client.close()

    def wait_until_done(self, sent: int, timeout: float = 1800) -> None:
        """Until the bench has read all ``sent`` submissions, their disclosures (three each)
        and as many audit records."""
        expected = len(AGENCIES) * sent
        wait_for(
            "every disclosure and audit record",
            lambda: (
                len(self.submitted) >= sent
                and len(self.arrivals) >= expected
                and self.audited >= expected
            ),
            timeout,
        )

    def stop(self) -> None:
        """Stop reading; what was read stays."""
        self.stopping.set()
        self.join(10)


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
    (work / "agreements.yaml").write_text(
        yaml.safe_dump([bench_agreement(a, now) for a in AGENCIES])
    )
    intelshare("agreements", "apply", str(work / "agreements.yaml"), quiet=True)


def make_reports(count: int, now: datetime) -> list[Any]:
    """``count`` reports, each matching all three of the benchmark's agreements."""
    reference = reference_data(random.Random(7))  # noqa: S311  # what setup() loaded, and more
    agreements = [bench_agreement(a, now) for a in AGENCIES]
    facilities, subjects = of_type(reference, "facility"), of_type(reference, "subject")
    rng = random.Random(11)  # noqa: S311  # benchmark data, not secrets
    return list(
        workload(
            rng, count, facilities, subjects, now=now, agreements=agreements,
            agreements_per_report=len(AGENCIES),
        )
    )  # fmt: skip


def submit_reports(settings: Settings, reports: list[Any], rate: float) -> tuple[int, float]:
    """Submit all at once (``rate`` 0) or ``rate`` a second; how many were sent, in how long."""
    sent = 0
    began = time.monotonic()
    with Submitter(settings) as submitter:
        chunk = max(1, int(rate / 10)) if rate else len(reports)
        for start in range(0, len(reports), chunk):
            if rate:
                time.sleep(max(0.0, began + start / rate - time.monotonic()))
            part = reports[start : start + chunk]
            result = submitter.submit(Candidate(str(i), r, None) for i, r in enumerate(part))
            sent += len(result.sent)
    return sent, time.monotonic() - began


@contextlib.contextmanager
def running(
    base: Settings, kind: str, now: datetime, route_instances: int = 1
) -> Iterator[tuple[Settings, list[subprocess.Popen[bytes]]]]:
    """The exchange set up under a fresh prefix, its worker running (and ``route_instances`` - 1
    more that run only route, as instances 2..); the settings and the workers. Uses the broker
    of ``base`` if it answers, else starts the local one; stops what it started."""
    with BrokerProbe(base) as probe:
        started_here = not probe.answers(5.0)
    if started_here:
        broker.start(base)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        settings, work, port = isolated(base, kind, now)
        setup(settings, now)
        workers.append(launch_worker(work / "worker.log", port))
        for instance in range(2, route_instances + 1):
            route_port = free_port()
            env = dict(os.environ) | {
                "INTELSHARE_WORKER_AGENTS": "route",
                "INTELSHARE_WORKER_INSTANCE": str(instance),
                "INTELSHARE_WEB_PORT": str(route_port),
            }
            workers.append(launch_worker(work / f"route-{instance}.log", route_port, env))
        yield settings, workers
    finally:
        for process in workers:
            stop_worker(process)
        if started_here:
            broker.stop(base)
