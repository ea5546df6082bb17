"""The agents on the engine, across several workers: shared load, failover, fast restarts.

Each test runs real worker processes on a real broker and kills some with SIGKILL mid-stream;
afterwards every (event, agreement) pair is on the read_committed feeds exactly once, with
exactly one audit record, and the chain verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.cputime import snapshot
from streams.kafka.clients import admin_client
from streams.topics import Topics
from tests.integration.exchange import (
    Exchange,
    assert_exactly_once,
    audited,
    pair_exchange,
    pair_reports,
    wait_until,
)
from tests.integration.worker import Worker

pytestmark = pytest.mark.integration

STARTED: list[Worker] = []


@pytest.fixture(autouse=True)
def _no_worker_left() -> Iterator[None]:
    """Every worker a test made is gone after it, passed or failed."""
    yield
    while STARTED:
        STARTED.pop().kill()


def _worker(x: Exchange, name: str, agents: str, instance: int) -> Worker:
    (x.home / name).mkdir()
    env = x.env | {"INTELSHARE_WORKER_AGENTS": agents, "INTELSHARE_WORKER_INSTANCE": str(instance)}
    worker = Worker(env, x.home / name)
    STARTED.append(worker)
    return worker


def _instance(worker: Worker, agent: str) -> dict[str, Any]:
    """The worker's status figures of its one instance of ``agent`` ({} if it does not answer)."""
    found = [i for i in (worker.status() or {}).get("instances", []) if i["agent"] == agent]
    return found[0] if found else {}


def test_two_route_instances_share_the_load_and_survive_one_kill(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """600 reports through two route instances; kill -9 one mid-stream: the survivor owns
    all 12 input partitions (the session timeout, 10 s, then the rebalance and the ledgers'
    restore; the test prints how long it took and allows 40 s on a loaded machine) and every
    disclosure is still made exactly once."""
    x = pair_exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    main = _worker(x, "main", "intake,enrich,route,sequencer", 1)
    second = _worker(x, "second", "route", 2)
    main.start()
    second.start()
    reports = pair_reports(600)
    x.submit(reports)
    wait_until(lambda: audited(x) > 240, timeout=240, what="a fifth of the audit records")
    # Each worker's figures come from librdkafka's statistics, once a second, so across the
    # rebalance one may still show its old assignment for that long; and route, stateful since
    # issue 13, restores its partitions' ledgers before it reports them: wait for both to settle.
    wait_until(lambda: _shared(main, second), timeout=20, what="the two to split the partitions")
    killed_at = audited(x)
    second.kill()
    killed, wall = time.monotonic(), time.time()
    assert killed_at < 1200, "the kill came after the stream ended"
    wait_until(
        lambda: _instance(main, "route").get("partitions") == list(range(12)),
        timeout=40,
        what="the survivor to own all 12 partitions",
    )
    print(f"survivor owns all partitions {time.monotonic() - killed:.1f} s after the kill")
    assert_exactly_once(x, reports)
    wait_until(lambda: _instance(main, "route").get("lag") == 0, timeout=10, what="no lag")
    figures = _instance(main, "route")
    assert figures["commits"] > 0
    assert figures["last_commit"] > wall
    metrics = _metrics(main)
    assert metrics[("intelshare_processed_total", ("route", "1"))] == figures["processed"]
    assert metrics[("intelshare_lag", ("route", "1"))] == 0
    assert metrics[("intelshare_assigned_partitions", ("route", "1"))] == 12
    assert metrics[("intelshare_commit_seconds_count", ("route", "1"))] == figures["commits"]
    assert metrics[("intelshare_disclosures_total", ("g-one",))] == figures["processed"]
    main.stop()


def _shared(first: Worker, second: Worker) -> bool:
    """Both route instances have processed reports and own disjoint, non-empty partition sets."""
    shares = [_instance(w, "route") for w in (first, second)]
    owned = [set(share.get("partitions", [])) for share in shares]
    return (
        all(share.get("processed", 0) > 0 for share in shares)
        and all(owned)
        and not owned[0] & owned[1]
        and owned[0] | owned[1] == set(range(12))
    )


def _metrics(worker: Worker) -> dict[tuple[str, tuple[str, ...]], float]:
    """The worker's ``GET /metrics``, parsed as Prometheus text: (sample, label values) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_standby_sequencer_continues_the_chain(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Two sequencer instances; kill -9 the active one mid-stream: the standby continues the
    chain with no gap and no repeat."""
    x = pair_exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    main = _worker(x, "main", "intake,enrich,route", 1)
    first = _worker(x, "seq-1", "sequencer", 1)
    second = _worker(x, "seq-2", "sequencer", 2)
    for worker in (main, first, second):
        worker.start()
    reports = pair_reports(600)
    x.submit(reports)
    wait_until(lambda: audited(x) > 240, timeout=240, what="a fifth of the audit records")
    processed = {
        w: (w.status() or {}).get("processed", {}).get("sequencer", 0) for w in (first, second)
    }
    active = max(processed, key=lambda w: processed[w])
    standby = first if active is second else second
    assert processed[standby] == 0, "both sequencer instances chained records"
    active.kill()
    assert_exactly_once(x, reports)
    assert (standby.status() or {}).get("processed", {}).get("sequencer", 0) > 0
    for worker in (main, standby):
        worker.stop()


def test_a_restarted_worker_resumes_within_seconds(kafka_bootstrap: str, tmp_path: Path) -> None:
    """After kill -9 mid-stream, the restarted worker commits new audit records within 10 s of
    being up: no stall behind the dead process's open transaction (its fixed transactional id
    fences it at once) or its group membership (static: no session timeout to wait out). The
    issue's target is 5 s; on two busy cores quixstreams' own start-up takes part of it."""
    x = pair_exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    STARTED.append(x.worker)
    x.worker.start()
    reports = pair_reports(400)
    x.submit(reports)
    wait_until(lambda: audited(x) > 150, timeout=240, what="the first audit records")
    x.worker.kill()
    killed = time.monotonic()
    before = audited(x)
    x.worker.start()
    up = time.monotonic()
    wait_until(lambda: audited(x) > before, timeout=30, what="a new audit record")
    resumed = time.monotonic()
    print(f"worker up {up - killed:.1f} s after the kill, resumed {resumed - up:.1f} s later")
    assert resumed - up < 10.0
    assert_exactly_once(x, reports)
    x.worker.stop()


def _agent_process(worker: Worker, agent: str) -> int:
    """The pid of the worker's child process that runs ``agent`` (its instance 1)."""
    assert worker.process is not None
    children = snapshot([worker.process.pid])
    found = [pid for pid, process in children.items() if process.agent == agent]
    assert found, f"the worker runs no {agent} process: {children}"
    return found[0]


def test_a_killed_agent_process_is_started_again_by_its_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """kill -9 of one agent's process (not the worker): the worker starts it again, keeps
    running, and every disclosure is still made exactly once."""
    x = pair_exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    STARTED.append(x.worker)
    x.worker.start()
    reports = pair_reports(600)
    x.submit(reports)
    wait_until(lambda: audited(x) > 200, timeout=240, what="the first audit records")
    route = _agent_process(x.worker, "route")
    os.kill(route, signal.SIGKILL)
    assert_exactly_once(x, reports)
    assert x.worker.process is not None
    assert x.worker.process.poll() is None, "the worker stopped when one agent died"
    assert _agent_process(x.worker, "route") != route
    assert "agent_restarting" in (tmp_path / "worker-1.log").read_text()
    x.worker.stop()


_STALE_MEMBER = """
import os, sys, time
from confluent_kafka import Consumer
bootstrap, group, identity, topics = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
assigned = []
consumer = Consumer({
    "bootstrap.servers": bootstrap, "group.id": group, "group.instance.id": identity,
    "session.timeout.ms": 10000, "enable.auto.commit": False,
})
consumer.subscribe(topics, on_assign=lambda _, partitions: assigned.extend(partitions))
deadline = time.monotonic() + 60
while not assigned and time.monotonic() < deadline:
    consumer.poll(0.2)
print(" ".join(f"{p.topic}:{p.partition}" for p in assigned), flush=True)
sys.stdin.read()  # heartbeats go on (librdkafka's thread) until the test kills it
"""


def _started(log: str, agent: str) -> bool:
    """Whether the worker's log says ``agent`` started (its quixstreams application runs)."""
    return any(
        '"event": "agent_started"' in line and f'"agent": "{agent}"' in line
        for line in log.splitlines()
    )


def test_a_group_assignment_without_the_changelog_heals(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Issue 10's sequencer wedge, made on purpose: the sequencer's group holds an assignment
    computed while its changelog topic did not exist (on a cluster, the node asked did not know
    it yet), for the very static member the worker starts. The worker's sequencer replaces that
    member and is handed the same assignment, without its changelog; quixstreams refuses to
    recover, and a restart within the session timeout was handed it again, until the worker
    gave up with 70. Now the agent waits out its membership once, the next start is assigned
    the changelog too, and every disclosure is made exactly once."""
    x = pair_exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    group = x.settings.topic_prefix + "intelshare-sequencer"
    assert group == Topics(x.settings.topic_prefix).agent_group("sequencer")
    pending = x.settings.topic_prefix + "intel.audit.pending"
    changelog = f"changelog__{group}--{pending}--default"
    member = subprocess.Popen(
        [sys.executable, "-c", _STALE_MEMBER, kafka_bootstrap, group, f"{group}-1",
         pending, changelog],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = tmp_path / "worker-1.log"
    try:
        assert member.stdout is not None
        assert member.stdin is not None
        assert member.stdout.readline().split() == [f"{pending}:0"]
        STARTED.append(x.worker)
        x.worker.start()
        # the member dies (no LeaveGroup) as the sequencer is about to join: the group still
        # holds it, with its assignment, when the sequencer joins as the same static member
        wait_until(
            lambda: log.exists() and _started(log.read_text(), "sequencer"),
            timeout=120, what="the sequencer to start",
        )  # fmt: skip
    finally:
        member.kill()  # as kill -9: a static member sends no LeaveGroup
        member.wait()
    reports = pair_reports(40)
    x.submit(reports)
    assert_exactly_once(x, reports, timeout=180)
    with admin_client(x.settings) as admin:
        assert changelog in admin.list_topics(), "quixstreams names the changelog otherwise"
    text = log.read_text()
    assert "agent_assignment_stale" in text
    assert text.count("agent_restarting") == 1, text.count("agent_restarting")
    assert x.worker.process is not None
    assert x.worker.process.poll() is None
    x.worker.stop()
