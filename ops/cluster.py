"""A local Kafka cluster: three KRaft nodes, each a combined broker and controller, one quorum.

``intelshare broker start --nodes 3`` runs them on 127.0.0.1 from the same Maven-assembled
Kafka as the single broker of :mod:`ops.broker`, whose process helpers (pid files, lock,
launch, probes) it shares; each node has ``Settings.broker_heap``. With ``--secure`` the nodes
are secure as the single secure broker is (SASL/SCRAM-SHA-512, ACLs, the same admin and
password); with ``--secure --tls`` they speak TLS on every link as the single TLS broker does:
SASL_SSL for clients and between the brokers, the controllers' quorum over TLS, TLS 1.2 and
1.3 only, and a mutual-TLS listener where a client certificate's common name is the Kafka user.

Where the nodes live (ports, folders, the quorum) is :mod:`ops.cluster_layout`, whose names are
re-exported here; what each runs with (config, TLS files) is :mod:`ops.broker_properties`.

Start is idempotent: running nodes are left alone, a stopped or killed one is started again, and
it returns once every node answers and the cluster lists all three as unfenced brokers. A cluster
whose running nodes speak TLS is not joined by one that does not, nor the other way round. Stop
sends SIGTERM to all nodes at once (one by one, the last would wait for a quorum that is gone).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
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
    admin_password,
    assemble,
    is_tls,
    plaintext_settings,
    prepare_node,
    secure_settings,
)
from ops.broker_properties import (
    TlsListeners,
    node_certificates,
    node_keystore,
    scram_options,
    secure_properties,
    server_properties,
)
from ops.cluster_layout import (
    MTLS_OFFSET,
    NODES,
    PORT_OFFSET,
    PROPERTIES,
    Node,
    bootstrap,
    check_ports,
    cluster_dir,
    initial_controllers,
    is_formatted,
    nodes,
    ports_of,
    quorum,
)
from streams.core.certs import CertStore
from streams.errors import BrokerError, ConfigError
from streams.kafka.clients import admin_client
from streams.settings import Settings

__all__ = [
    "MTLS_OFFSET",
    "NODES",
    "PORT_OFFSET",
    "Node",
    "NodeStatus",
    "bootstrap",
    "cluster_dir",
    "initial_controllers",
    "node_properties",
    "nodes",
    "start",
    "status",
    "stop",
]

log = structlog.get_logger(__name__)


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
    """Anything else worth saying (``secure tls`` or ``secure`` for a running secure node, a
    stale pid file, a port held by another process)."""


def _node_settings(
    settings: Settings, node: Node, secure: bool, tls: bool | None = None
) -> Settings:
    """``settings`` as the single-broker helpers of :mod:`ops.broker` see one node: on the
    secure cluster as its admin, over TLS when the node's config (or ``tls``) says so."""
    if secure:
        base = secure_settings(settings, is_tls(node.data) if tls is None else tls)
    else:
        base = plaintext_settings(settings)
    return dataclasses.replace(
        base,
        broker_dir=node.data,
        broker_port=node.port,
        controller_port=node.controller_port,
        bootstrap_servers=f"127.0.0.1:{node.port}",
    )


def start(
    settings: Settings, count: int = NODES, *, secure: bool = False, tls: bool = False
) -> str:
    """Start every node of the cluster not running yet; return the bootstrap list once all
    answer and the cluster lists each of them as an unfenced broker."""
    if tls and not secure:
        raise ConfigError(
            "--tls needs --secure: `intelshare broker start --secure --tls --nodes 3`"
        )
    if count != NODES:
        raise ConfigError(f"--nodes {count}: the local broker runs 1 node, or a cluster of 3")
    members = nodes(settings, count, secure=secure)
    check_ports(settings, members, tls)
    _refuse_the_other_cluster(settings, secure)
    folder = cluster_dir(settings, secure)
    folder.mkdir(parents=True, exist_ok=True)
    with _lock(folder):
        cluster_id, voters = quorum(folder, members)
        controllers = ",".join(f"127.0.0.1:{node.controller_port}" for node in members)
        pids: dict[int, int] = {}
        down: list[Node] = []
        for node in members:
            node.data.mkdir(exist_ok=True)
            pid, _ = _our_pid(_node_settings(settings, node, secure, tls))
            if pid is None:
                _refuse_taken_ports(node, tls)
                down.append(node)
            elif secure and is_tls(node.data) != tls:
                raise BrokerError(
                    f"node {node.node_id} of the cluster runs {'with' if not tls else 'without'} "
                    f"TLS; stop the cluster (`intelshare broker stop`) and start it "
                    f"{'with' if tls else 'without'} --tls"
                )
            else:
                pids[node.node_id] = pid
        password = ""
        store = CertStore(settings.certs_dir)
        if down:
            assemble(settings)  # once, before the nodes are formatted side by side
            if secure:
                formatted = [node for node in members if is_formatted(node)] or members
                password = admin_password(settings, formatted[0].data / "kraft-logs")
            if tls:
                node_certificates(store, [node.node_id for node in down], datetime.now(UTC))

        def prepare(node: Node) -> list[str]:
            listeners = None
            if tls:
                keystore = node_keystore(store, node.node_id, node.data)
                listeners = TlsListeners(node.mtls_port, keystore, store.ca_cert)
            text = node_properties(
                node, controllers, count, password if secure else None, listeners
            )
            own = _node_settings(settings, node, secure, tls)
            more = scram_options(password) if secure else []
            return prepare_node(own, node.data, text, cluster_id, voters, more)

        with ThreadPoolExecutor(max_workers=NODES) as pool:  # each format is a JVM of its own
            commands = dict(zip([n.node_id for n in down], pool.map(prepare, down), strict=True))
        for node in down:  # none launched before every missing one is formatted
            own = _node_settings(settings, node, secure, tls)
            pids[node.node_id] = _launch(own, node.data, commands[node.node_id])
        for node in members:  # none answers before a majority of the quorum runs
            own = _node_settings(settings, node, secure, tls)
            _wait_until_answering(own, pids[node.node_id], node.node_id in commands)
        _wait_for_all_brokers(_node_settings(settings, members[0], secure, tls), members)
    return bootstrap(members)


def node_properties(
    node: Node,
    quorum: str,
    count: int = NODES,
    password: str | None = None,
    tls: TlsListeners | None = None,
) -> str:
    """The ``server.properties`` of ``node``: plaintext, or with the admin's ``password``
    secure (SASL/SCRAM and ACLs), and with ``tls`` over TLS on every link."""
    ports, logs = (node.port, node.controller_port), node.data / "kraft-logs"
    if password is None:
        return server_properties(node.node_id, ports, quorum, logs, count)
    return secure_properties(node.node_id, ports, quorum, logs, password, count, tls)


def _refuse_the_other_cluster(settings: Settings, secure: bool) -> None:
    """The plain and the secure cluster share their ports: one runs at a time."""
    other = nodes(settings, secure=not secure)
    if any(_our_pid(_node_settings(settings, node, not secure, False))[0] for node in other):
        running, wanted = ("secure", "plain") if not secure else ("plain", "secure")
        raise BrokerError(
            f"the {running} cluster runs on the ports the {wanted} one needs; stop it first "
            "(`intelshare broker stop`)"
        )


def _refuse_taken_ports(node: Node, tls: bool) -> None:
    for port in ports_of(node, tls):
        if _port_taken(port):
            raise BrokerError(
                f"port {port} on 127.0.0.1 (node {node.node_id} of the cluster) is held by "
                f"another process; stop it (`ss -ltnp 'sport = :{port}'` names it) or set "
                "INTELSHARE_BROKER_PORT and INTELSHARE_CONTROLLER_PORT"
            )


def _unfenced(own: Settings, address: str, timeout: float) -> set[int] | None:
    """The ids of the unfenced brokers, as the node(s) at ``address`` say (asked with a node's
    settings ``own``); None if none answers."""
    probe = dataclasses.replace(own, bootstrap_servers=address, request_timeout=timeout)
    try:
        with admin_client(probe) as admin:
            brokers = admin.describe_cluster()["brokers"]
    except Exception:  # a probe: whatever went wrong, the answer is "not (yet)"
        return None
    return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced", False)}


def _wait_for_all_brokers(own: Settings, members: list[Node]) -> None:
    """Wait until every node is an unfenced broker, so topics get all their replicas (asked
    with a node's settings ``own``)."""
    wanted = {node.node_id for node in members}
    begun = time.monotonic()
    seen: set[int] | None = None
    while time.monotonic() - begun < own.broker_start_timeout:
        seen = _unfenced(own, bootstrap(members), 3.0)
        if seen is not None and wanted <= seen:
            log.info("cluster_ready", bootstrap=bootstrap(members), nodes=sorted(seen))
            return
        time.sleep(0.2)
    missing = sorted(wanted - (seen or set()))
    node = members[missing[0] - 1] if missing else members[0]
    raise BrokerError(
        f"node(s) {missing} did not join the cluster as brokers within "
        f"{own.broker_start_timeout:.0f} s (INTELSHARE_BROKER_START_TIMEOUT):\n"
        f"{_log_tail(dataclasses.replace(own, broker_dir=node.data))}"
    )


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop every running node of either cluster, plain or secure (SIGTERM to all, SIGKILL
    after ``timeout``); False if none ran."""
    stopped = _stop(settings, timeout, secure=False)
    return _stop(settings, timeout, secure=True) or stopped


def _stop(settings: Settings, timeout: float, *, secure: bool) -> bool:
    folder = cluster_dir(settings, secure)
    if not folder.is_dir():
        return False
    members = [_node_settings(settings, n, secure, False) for n in nodes(settings, secure=secure)]
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


def _shown(settings: Settings) -> bool | None:
    """Which cluster ``status`` shows: the secure one (True) or the plain one (False), whichever
    has a live node, else the one started last; None when neither was ever started."""
    made = []
    for secure in (False, True):
        path = cluster_dir(settings, secure) / PROPERTIES
        if path.is_file():
            members = nodes(settings, secure=secure)
            live = any(_our_pid(_node_settings(settings, n, secure, False))[0] for n in members)
            made.append((live, path.stat().st_mtime, secure))
    return max(made)[2] if made else None


def status(settings: Settings) -> list[NodeStatus]:
    """One status per node; none when no cluster was ever started from these settings."""
    secure = _shown(settings)
    if secure is None:
        return []
    found = []
    for node in nodes(settings, secure=secure):
        own = _node_settings(settings, node, secure)
        pid, detail = _our_pid(own)
        if pid is None:
            if not detail and _port_taken(node.port):
                detail = f"port {node.port} is held by another process"
            found.append(NodeStatus(node.node_id, None, node.port, "stopped", detail))
            continue
        seen = _unfenced(own, own.bootstrap_servers, 3.0)
        if seen is not None and node.node_id in seen:
            kind = ("secure tls" if is_tls(node.data) else "secure") if secure else ""
            found.append(NodeStatus(node.node_id, pid, node.port, "running", kind))
        else:
            detail = f"see {node.data / 'logs' / 'server.log'}"
            found.append(NodeStatus(node.node_id, pid, node.port, "not answering", detail))
    return found
