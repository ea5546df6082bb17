"""The local 3-node cluster of ops/, secure and over TLS (`intelshare broker start --secure
--tls --nodes 3`), under the whole exchange: topics with three replicas, no disclosure lost or
doubled when a node is killed mid-stream, the worker (a SCRAM user of role worker over SASL_SSL)
keeps running, status names the dead node, the same start brings it back, stop ends all three.

Runs its own cluster, in its own home with its own CA, on ports free now; it needs no other
broker.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from ops import cluster
from streams.core.certs import CertStore
from streams.kafka.clients import admin_client
from streams.kafka.users import Role, add_user
from streams.settings import Settings
from tests.factories import incident
from tests.integration.exchange import (
    assert_exactly_once,
    audited,
    pair_exchange,
    pair_reports,
    wait_until,
)
from tests.integration.worker import Worker

pytestmark = pytest.mark.integration

REPORTS = 100
START = ("broker", "start", "--secure", "--tls", "--nodes", "3")
"""The README's command for the TLS cluster: it starts the cluster, and restarts a dead node."""


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
    """A broker port whose cluster ports (itself, +1, and each node's client, controller and
    mutual-TLS port) are all free now, below Linux's ephemeral range (32768 up), where clients'
    own connections cannot take one of them between this check and the nodes' start."""
    rng = random.Random()  # a port, not a secret
    for _ in range(200):
        base = rng.randrange(20_000, 31_800)
        members = cluster.nodes(Settings(broker_port=base, controller_port=base + 1))
        ports = [base, base + 1]
        ports += [port for n in members for port in (n.port, n.controller_port, n.mtls_port)]
        if all(_free(port) for port in ports):
            return base
    raise AssertionError("found no free cluster ports")


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


@pytest.mark.timeout(900)  # three JVMs, a worker and 100 reports on two cores
def test_the_exchange_on_three_nodes_survives_a_node_kill(
    cluster_env: dict[str, str], tmp_path: Path
) -> None:
    """The whole exchange on the secure TLS cluster: topics with 3 replicas and min ISR 2; 100
    reports from a unit user over SASL_SSL, one node killed with SIGKILL mid-stream (while
    reports are still being submitted): every disclosure exactly once, the chain verifies, the
    worker (user of role worker, SASL_SSL) keeps running; status exit 1 names the dead node, the
    same start brings it back, and the exchange goes on with it; stop."""
    env = cluster_env
    begun = time.monotonic()
    CertStore(Settings.load(env).certs_dir).init("test exchange CA", datetime.now(UTC))
    started = _cli(*START, env=env)
    assert started.returncode == 0, started.stderr
    base = int(env["INTELSHARE_BROKER_PORT"])
    expected = ",".join(f"127.0.0.1:{base + 100 + 2 * i}" for i in range(3))
    assert started.stdout.strip().splitlines()[-1] == expected
    code, lines = _status(env)
    assert code == 0, lines
    assert sorted(lines) == [1, 2, 3]
    assert all(line.endswith(" running secure tls") for line in lines.values()), lines
    started_in = time.monotonic() - begun

    home = Path(env["INTELSHARE_HOME"])
    admin = {
        "INTELSHARE_SECURITY_PROTOCOL": "SASL_SSL",
        "INTELSHARE_SSL_CAFILE": str(home / "certs" / "ca.pem"),
        "INTELSHARE_SASL_USERNAME": "admin",
        "INTELSHARE_SASL_PASSWORD_FILE": str(home / "secrets" / "admin.password"),
    }
    x = pair_exchange(expected, tmp_path / "exchange", env, admin)  # `topics create`'s replicas
    unit = incident()["unit_id"]  # pair_reports' unit
    as_unit = add_user(x.settings, Role.UNIT, "c-unit", (unit,))
    x.submitting = dataclasses.replace(
        x.settings, sasl_username="c-unit", sasl_password_file=as_unit
    )
    as_worker = add_user(x.settings, Role.WORKER, "c-worker")
    x.worker = Worker(
        x.env
        | {"INTELSHARE_SASL_USERNAME": "c-worker", "INTELSHARE_SASL_PASSWORD_FILE": str(as_worker)},
        x.home,
    )
    audit = x.settings.topic_prefix + "intel.audit"
    submissions = x.settings.topic_prefix + "intel.submissions"
    with admin_client(x.settings) as admin:
        described = admin.describe_topics([audit, submissions])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, audit)])
    for described_topic in described:
        for partition in described_topic["partitions"]:
            assert sorted(partition["replica_nodes"]) == [1, 2, 3], described_topic
    assert configs["topic"][audit]["min.insync.replicas"]["value"] == "2"
    # the node that leads the audit log: the sequencer's output moves to another leader
    victim = next(p["leader_id"] for t in described if t["name"] == audit for p in t["partitions"])

    worker = x.worker
    worker.start()
    try:
        pids = {node.node_id: node.pid for node in cluster.status(Settings.load(env))}
        reports = pair_reports(REPORTS)
        batches = [reports[i : i + 25] for i in range(0, REPORTS, 25)]
        for number, batch in enumerate(batches):
            if number == 2:
                wait_until(lambda: audited(x) > 40, timeout=240, what="the first disclosures")
                os.kill(pids[victim] or 0, signal.SIGKILL)
            x.submit(batch)
        assert_exactly_once(x, reports)
        assert worker.process is not None
        assert worker.process.poll() is None, "the worker stopped when a node died"
        assert (worker.status() or {}).get("ready"), worker.status()

        code, lines = _status(env)
        assert code == 1, lines
        assert "pid=- " in lines[victim]
        assert " stopped" in lines[victim]
        assert all(" running" in lines[n] for n in lines if n != victim), lines

        again = _cli(*START, env=env)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1] == expected
        code, lines = _status(env)
        assert code == 0, lines
        assert all(" running" in line for line in lines.values()), lines
        after = {node.node_id: node.pid for node in cluster.status(Settings.load(env))}
        assert all(after[n] == pids[n] for n in pids if n != victim), "running nodes restarted"
        wait_until(lambda: _in_sync(x.settings, audit), timeout=120, what="the node to rejoin")

        more = pair_reports(20)
        x.submit(more)
        assert_exactly_once(x, reports + more, timeout=120)
        assert worker.process.poll() is None
    finally:
        worker.kill()

    stopped = _cli("broker", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "stopped"
    code, lines = _status(env)
    assert code == 1
    assert all(" stopped" in line for line in lines.values()), lines
    print(f"cluster up in {started_in:.0f} s, whole test {time.monotonic() - begun:.0f} s")


def _in_sync(settings: Settings, topic: str) -> bool:
    """Every partition of ``topic`` has all three replicas in sync again."""
    with admin_client(settings) as admin:
        described = admin.describe_topics([topic])
    return all(len(p["isr_nodes"]) == 3 for t in described for p in t["partitions"])
