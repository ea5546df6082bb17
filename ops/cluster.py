"""A local Kafka cluster: three KRaft nodes, each a combined broker and controller, one quorum.

``intelshare broker start --nodes 3`` runs them on 127.0.0.1 from the same Maven-assembled
Kafka as the single broker of :mod:`ops.broker`, whose process helpers (pid files, lock,
launch, probes) it shares; each node has ``Settings.broker_heap``.

Ports: node ``i`` (1, 2, 3) takes ``broker_port + 100 + 2*(i-1)`` for clients and
``controller_port + 100 + 2*(i-1)`` for the quorum. With the defaults that is 9192/9193,
9194/9195 and 9196/9197, so the cluster and the single broker (9092/9093) can run side by side.
``start`` returns the three client addresses, comma-separated, for ``KAFKA_BOOTSTRAP_SERVERS``.

Storage: node ``i`` runs from ``node-<i>`` in the folder beside the single broker's, named
``-cluster`` (by default ``$INTELSHARE_HOME/broker-cluster/node-<i>``). On the first start one
cluster id and one metadata directory id per node are drawn and kept in that folder's
``cluster.properties``; every node's storage is then formatted with that cluster id and the same
``--initial-controllers 1@127.0.0.1:C1:DIR1,2@...,3@...``: a dynamic (KIP-853) quorum of three
voters, found through ``controller.quorum.bootstrap.servers`` (``--standalone`` would make each
node a cluster of its own). The internal topics (offsets, transaction state) have three replicas
and a min.insync.replicas of 2. A voter cannot rejoin with a fresh disk under its old id, so a
node whose storage is gone while the others keep theirs is refused, not re-formatted.

Start is idempotent: running nodes are left alone, a stopped or killed one is started again, and
it returns once every node answers and the cluster lists all three as unfenced brokers. Stop
sends SIGTERM to all nodes at once (one by one, the last would wait for a quorum that is gone).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import structlog

from ops.broker import (
    _launch,
    _lock,
    _log_tail,
    _our_pid,
    _pid_file,
    _port_taken,
    _terminate,
    _wait_until_answering,
)
from ops.broker_config import (
    assemble,
    kafka_uuid,
    plaintext_settings,
    prepare_node,
    server_properties,
)
from streams.errors import BrokerError, ConfigError
from streams.kafka.clients import admin_client
from streams.settings import Settings

__all__ = [
    "NODES",
    "PORT_OFFSET",
    "Node",
    "NodeStatus",
    "bootstrap",
    "cluster_dir",
    "initial_controllers",
    "nodes",
    "start",
    "status",
    "stop",
]

log = structlog.get_logger(__name__)

NODES = 3
"""The local cluster's size: three voters survive the loss of one."""
PORT_OFFSET = 100
"""Node 1's ports are the single broker's plus this; each further node adds 2."""
_PROPERTIES = "cluster.properties"


class Node(NamedTuple):
    """One node of the local cluster."""

    node_id: int
    """Its ``node.id``, 1 to 3."""
    port: int
    """Its client port on 127.0.0.1."""
    controller_port: int
    """Its KRaft controller port on 127.0.0.1."""
    data: Path
    """The folder it runs from: config, storage, logs and pid file."""


class NodeStatus(NamedTuple):
    """One line of ``intelshare broker status``."""

    node_id: int
    """Its ``node.id``."""
    pid: int | None
    """The process id of the live node, or None."""
    port: int
    """Its client port."""
    state: str
    """``running`` (answers, and the cluster lists it unfenced), ``not answering`` or
    ``stopped``."""
    detail: str
    """Anything else worth saying (a stale pid file, a port held by another process)."""


def cluster_dir(settings: Settings) -> Path:
    """The cluster's folder: beside the single broker's, its name with ``-cluster``."""
    data = settings.broker_data_dir.resolve()
    return data.with_name(f"{data.name}-cluster")


def nodes(settings: Settings, count: int = NODES) -> list[Node]:
    """The nodes of the cluster, their ports from ``settings`` as the module says."""
    folder = cluster_dir(settings)
    return [
        Node(
            i,
            settings.broker_port + PORT_OFFSET + 2 * (i - 1),
            settings.controller_port + PORT_OFFSET + 2 * (i - 1),
            folder / f"node-{i}",
        )
        for i in range(1, count + 1)
    ]


def bootstrap(members: list[Node]) -> str:
    """The client addresses of ``members``, comma-separated (``KAFKA_BOOTSTRAP_SERVERS``)."""
    return ",".join(f"127.0.0.1:{node.port}" for node in members)


def initial_controllers(members: list[Node], directories: list[str]) -> str:
    """StorageTool's ``--initial-controllers``: ``id@127.0.0.1:port:directory_id`` each."""
    return ",".join(
        f"{node.node_id}@127.0.0.1:{node.controller_port}:{directory}"
        for node, directory in zip(members, directories, strict=True)
    )


def _check_ports(settings: Settings, members: list[Node]) -> None:
    """Refuse settings under which two nodes, or a node and the single broker, share a port."""
    ports = [settings.broker_port, settings.controller_port]
    ports += [port for node in members for port in (node.port, node.controller_port)]
    if len(set(ports)) != len(ports):
        raise ConfigError(
            f"the cluster's ports {ports[2:]} overlap each other or the single broker's "
            f"{ports[:2]}; set INTELSHARE_CONTROLLER_PORT to INTELSHARE_BROKER_PORT + 1"
        )


def _node_settings(settings: Settings, node: Node) -> Settings:
    """``settings`` as the single-broker helpers of :mod:`ops.broker` see one node."""
    return dataclasses.replace(
        plaintext_settings(settings),
        broker_dir=node.data,
        broker_port=node.port,
        controller_port=node.controller_port,
        bootstrap_servers=f"127.0.0.1:{node.port}",
    )


def _formatted(node: Node) -> bool:
    return (node.data / "kraft-logs" / "meta.properties").is_file()


def _quorum(folder: Path, members: list[Node]) -> tuple[str, str]:
    """The cluster id and ``--initial-controllers``: drawn on the first start, then read back."""
    path = folder / _PROPERTIES
    formatted = [node.node_id for node in members if _formatted(node)]
    if not path.is_file():
        if formatted:
            raise BrokerError(
                f"{path} is missing but node(s) {formatted} are formatted; stop the cluster "
                f"(`intelshare broker stop`) and remove {folder} to start a fresh one"
            )
        cluster_id = kafka_uuid()
        voters = initial_controllers(members, [kafka_uuid() for _ in members])
        path.write_text(f"cluster.id={cluster_id}\ninitial.controllers={voters}\n")
        log.info("cluster_created", cluster_id=cluster_id, path=str(path))
        return cluster_id, voters
    saved = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if "=" in line.strip()
    )
    cluster_id, voters = saved.get("cluster.id", ""), saved.get("initial.controllers", "")
    directories = [voter.rsplit(":", 1)[-1] for voter in voters.split(",")]
    if len(directories) != len(members) or initial_controllers(members, directories) != voters:
        raise ConfigError(
            f"the cluster in {folder} was formatted with the quorum {voters}, which the ports of "
            "INTELSHARE_BROKER_PORT and INTELSHARE_CONTROLLER_PORT no longer give; set them back, "
            f"or stop the cluster and remove {folder} to start a fresh one"
        )
    lost = [node.node_id for node in members if not _formatted(node)]
    if formatted and lost:
        raise BrokerError(
            f"the storage of node(s) {lost} in {folder} is gone while node(s) {formatted} keep "
            "theirs; a voter cannot rejoin the quorum with a fresh disk, so stop the cluster "
            f"(`intelshare broker stop`) and remove {folder} to start a fresh one"
        )
    return cluster_id, voters


def start(settings: Settings, count: int = NODES, *, secure: bool = False) -> str:
    """Start every node of the cluster not running yet; return the bootstrap list once all
    answer and the cluster lists each of them as an unfenced broker."""
    if secure:
        raise ConfigError(
            "--secure with --nodes is not supported yet; run `intelshare broker start --secure` "
            "for a single secure broker, or the cluster without --secure"
        )
    if count != NODES:
        raise ConfigError(f"--nodes {count}: the local broker runs 1 node, or a cluster of 3")
    members = nodes(settings, count)
    _check_ports(settings, members)
    folder = cluster_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with _lock(folder):
        cluster_id, voters = _quorum(folder, members)
        quorum = ",".join(f"127.0.0.1:{node.controller_port}" for node in members)
        pids: dict[int, int] = {}
        down: list[Node] = []
        for node in members:
            node.data.mkdir(exist_ok=True)
            pid, _ = _our_pid(_node_settings(settings, node))
            if pid is None:
                _refuse_taken_ports(node)
                down.append(node)
            else:
                pids[node.node_id] = pid
        if down:
            assemble(settings)  # once, before the nodes are formatted side by side

        def prepare(node: Node) -> list[str]:
            ports = (node.port, node.controller_port)
            text = server_properties(node.node_id, ports, quorum, node.data / "kraft-logs", count)
            own = _node_settings(settings, node)
            return prepare_node(own, node.data, text, cluster_id, voters)

        with ThreadPoolExecutor(max_workers=NODES) as pool:  # each format is a JVM of its own
            commands = dict(zip([n.node_id for n in down], pool.map(prepare, down), strict=True))
        for node in down:  # none launched before every missing one is formatted
            own = _node_settings(settings, node)
            pids[node.node_id] = _launch(own, node.data, commands[node.node_id])
        for node in members:  # none answers before a majority of the quorum runs
            own = _node_settings(settings, node)
            _wait_until_answering(own, pids[node.node_id], node.node_id in commands)
        _wait_for_all_brokers(settings, members)
    return bootstrap(members)


def _refuse_taken_ports(node: Node) -> None:
    for port in (node.port, node.controller_port):
        if _port_taken(port):
            raise BrokerError(
                f"port {port} on 127.0.0.1 (node {node.node_id} of the cluster) is held by "
                f"another process; stop it (`ss -ltnp 'sport = :{port}'` names it) or set "
                "INTELSHARE_BROKER_PORT and INTELSHARE_CONTROLLER_PORT"
            )


def _unfenced(settings: Settings, address: str, timeout: float) -> set[int] | None:
    """The ids of the unfenced brokers, as the node(s) at ``address`` say; None if none answers."""
    probe = dataclasses.replace(
        plaintext_settings(settings), bootstrap_servers=address, request_timeout=timeout
    )
    try:
        with admin_client(probe) as admin:
            brokers = admin.describe_cluster()["brokers"]
    except Exception:  # a probe: whatever went wrong, the answer is "not (yet)"
        return None
    return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced", False)}


def _wait_for_all_brokers(settings: Settings, members: list[Node]) -> None:
    """Wait until every node is an unfenced broker, so topics get all their replicas."""
    wanted = {node.node_id for node in members}
    begun = time.monotonic()
    seen: set[int] | None = None
    while time.monotonic() - begun < settings.broker_start_timeout:
        seen = _unfenced(settings, bootstrap(members), 3.0)
        if seen is not None and wanted <= seen:
            log.info("cluster_ready", bootstrap=bootstrap(members), nodes=sorted(seen))
            return
        time.sleep(0.2)
    missing = sorted(wanted - (seen or set()))
    node = members[missing[0] - 1] if missing else members[0]
    raise BrokerError(
        f"node(s) {missing} did not join the cluster as brokers within "
        f"{settings.broker_start_timeout:.0f} s (INTELSHARE_BROKER_START_TIMEOUT):\n"
        f"{_log_tail(_node_settings(settings, node))}"
    )


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop every running node (SIGTERM to all, SIGKILL after ``timeout``); False if none ran."""
    folder = cluster_dir(settings)
    if not folder.is_dir():
        return False
    members = [_node_settings(settings, node) for node in nodes(settings)]
    with _lock(folder):
        pids = [pid for own in members if (pid := _our_pid(own)[0]) is not None]
        for pid in pids:  # all at once: the last node alone would wait for a lost quorum
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        begun = time.monotonic()
        for pid in pids:
            _terminate(pid, max(0.1, timeout - (time.monotonic() - begun)))
        for own in members:
            _pid_file(own).unlink(missing_ok=True)
    if pids:
        log.info("cluster_stopped", pids=pids, seconds=round(time.monotonic() - begun, 1))
    return bool(pids)


def status(settings: Settings) -> list[NodeStatus]:
    """One status per node; none when no cluster was ever started from these settings."""
    if not (cluster_dir(settings) / _PROPERTIES).is_file():
        return []
    found = []
    for node in nodes(settings):
        own = _node_settings(settings, node)
        pid, detail = _our_pid(own)
        if pid is None:
            if not detail and _port_taken(node.port):
                detail = f"port {node.port} is held by another process"
            found.append(NodeStatus(node.node_id, None, node.port, "stopped", detail))
            continue
        seen = _unfenced(own, own.bootstrap_servers, 3.0)
        if seen is not None and node.node_id in seen:
            found.append(NodeStatus(node.node_id, pid, node.port, "running", ""))
        else:
            detail = f"see {node.data / 'logs' / 'server.log'}"
            found.append(NodeStatus(node.node_id, pid, node.port, "not answering", detail))
    return found
