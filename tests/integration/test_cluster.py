"""The local 3-node cluster of ops/ (`intelshare broker start --nodes 3`): topics with three
replicas, no message lost or doubled when a node is killed mid-stream, status names the dead
node, the same start brings it back, stop ends all three.

Runs its own cluster, in its own home, on ports free now; it needs no other broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from ops import cluster
from ops.runtime import free_port
from streams.kafka.clients import admin_client, producer
from streams.settings import Settings
from tests.integration.helpers import read_all

pytestmark = pytest.mark.integration

MESSAGES = 5000
KILL_AT = 2000


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``intelshare ARGS`` as a user runs it (as helpers.run_cli, with time for three JVMs)."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _base_port() -> int:
    """A broker port whose cluster ports (itself + 100 .. + 105) are all free now."""
    for _ in range(50):
        first = free_port()
        base = first - cluster.PORT_OFFSET
        others = range(first + 1, first + 2 * cluster.NODES)
        if base > 1024 and all(_free(port) for port in others):
            return base
    raise AssertionError("found no six free ports in a row")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def cluster_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a cluster of its own; whatever runs at the end is stopped, then killed."""
    base = _base_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("INTELSHARE_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    env |= {
        "INTELSHARE_HOME": str(tmp_path / "home"),
        "INTELSHARE_BROKER_PORT": str(base),
        "INTELSHARE_CONTROLLER_PORT": str(base + 1),
        "INTELSHARE_BROKER_HEAP": "256m",
        "INTELSHARE_BROKER_START_TIMEOUT": "150",
        "INTELSHARE_REQUEST_TIMEOUT": "15",
        "INTELSHARE_TOPIC_PREFIX": f"c{uuid.uuid4().hex[:12]}.",
    }
    try:
        yield env
    finally:
        _cli("broker", "stop", env=env)
        for node in cluster.status(Settings.load(env)):
            if node.pid is not None:
                os.kill(node.pid, signal.SIGKILL)


def _status(env: dict[str, str]) -> tuple[int, dict[int, str]]:
    """Exit code of ``broker status`` and its line per node id."""
    done = _cli("broker", "status", env=env)
    lines = {int(line.split()[1]): line for line in done.stdout.splitlines()}
    return done.returncode, lines


def test_three_nodes_replicate_survive_a_kill_and_restart(cluster_env: dict[str, str]) -> None:
    """RF 3 and min ISR 2; 5,000 idempotent acks=all writes, one node killed mid-stream, all
    read back exactly once; status exit 1 naming the dead node; start brings it back; stop."""
    env = cluster_env
    begun = time.monotonic()
    started = _cli("broker", "start", "--nodes", "3", env=env)
    assert started.returncode == 0, started.stderr
    base = int(env["INTELSHARE_BROKER_PORT"])
    expected = ",".join(f"127.0.0.1:{base + 100 + 2 * i}" for i in range(3))
    assert started.stdout.strip().splitlines()[-1] == expected
    code, lines = _status(env)
    assert code == 0, lines
    assert sorted(lines) == [1, 2, 3]
    assert all(" running" in line for line in lines.values()), lines
    started_in = time.monotonic() - begun

    env["KAFKA_BOOTSTRAP_SERVERS"] = expected
    created = _cli("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    settings = Settings.load(env)
    audit = settings.topic_prefix + "intel.audit"
    topic = settings.topic_prefix + "intel.submissions"
    with admin_client(settings) as admin:
        described = admin.describe_topics([audit, topic])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, audit)])
    for described_topic in described:
        for partition in described_topic["partitions"]:
            assert sorted(partition["replica_nodes"]) == [1, 2, 3], described_topic
    assert configs["topic"][audit]["min.insync.replicas"]["value"] == "2"
    leaders = {p["leader_id"] for t in described if t["name"] == topic for p in t["partitions"]}
    victim = min(leaders)  # a node that leads some of the topic's partitions

    pids = {node.node_id: node.pid for node in cluster.status(settings)}
    client = producer(settings, delivery_timeout_ms=120_000, linger_ms=20)
    try:
        futures = []
        for n in range(MESSAGES):
            if n == KILL_AT:
                os.kill(pids[victim] or 0, signal.SIGKILL)
            futures.append(client.send(topic, key=str(n % 97).encode(), value=str(n).encode()))
        client.flush(timeout=150)
        for future in futures:
            future.get(timeout=30)
    finally:
        client.close(timeout=15)

    records = read_all(settings, topic, expect=MESSAGES, timeout=60)
    values = sorted(int(record.value) for record in records)
    assert values == list(range(MESSAGES)), (len(values), len(set(values)))

    code, lines = _status(env)
    assert code == 1, lines
    assert "pid=- " in lines[victim]
    assert " stopped" in lines[victim]
    assert all(" running" in lines[n] for n in lines if n != victim), lines

    again = _cli("broker", "start", "--nodes", "3", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == expected
    code, lines = _status(env)
    assert code == 0, lines
    assert all(" running" in line for line in lines.values()), lines
    after = {node.node_id: node.pid for node in cluster.status(settings)}
    assert all(after[n] == pids[n] for n in pids if n != victim), "running nodes were restarted"

    stopped = _cli("broker", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "stopped"
    code, lines = _status(env)
    assert code == 1
    assert all(" stopped" in line for line in lines.values()), lines
    print(f"cluster up in {started_in:.0f} s, whole test {time.monotonic() - begun:.0f} s")
