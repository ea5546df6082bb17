"""Where the nodes of the local cluster (:mod:`ops.cluster`) live: their ports, their folders,
and the quorum their storage is formatted with; nothing here starts a process.

Ports: node ``i`` (1, 2, 3) takes ``broker_port + 100 + 2*(i-1)`` for clients and
``controller_port + 100 + 2*(i-1)`` for the quorum. With the defaults that is 9192/9193,
9194/9195 and 9196/9197, so the cluster and the single broker (9092/9093) can run side by side.
A TLS node's mutual-TLS port is its client port + 6 (:data:`MTLS_OFFSET`): 9198, 9200 and 9202
by default, above every client and controller port of the cluster (the single broker's scheme,
client port + 2, would be the next node's client port); ``INTELSHARE_BROKER_MTLS_PORT`` and
``INTELSHARE_BROKER_LOOPBACK_PORT`` are the single broker's only. ``start`` returns the three
client addresses, comma-separated, for ``KAFKA_BOOTSTRAP_SERVERS``.

Storage: node ``i`` runs from ``node-<i>`` in the folder beside the single broker's, named
``-cluster`` (by default ``$INTELSHARE_HOME/broker-cluster/node-<i>``), or ``-secure-cluster``
for the secure cluster, whose storage is formatted with the admin's SCRAM credential. On the
first start one cluster id and one metadata directory id per node are drawn and kept in that
folder's ``cluster.properties``; every node's storage is then formatted with that cluster id and
the same ``--initial-controllers 1@127.0.0.1:C1:DIR1,2@...,3@...``: a dynamic (KIP-853) quorum
of three voters, found through ``controller.quorum.bootstrap.servers`` (``--standalone`` would
make each node a cluster of its own). The internal topics (offsets, transaction state) have three
replicas and a min.insync.replicas of 2. A voter cannot rejoin with a fresh disk under its old
id, so a node whose storage is gone while the others keep theirs is refused, not re-formatted.

Certificates (``--tls``): node ``i`` serves ``node-<i>.pem`` of ``$INTELSHARE_HOME/certs``,
issued by the exchange's CA (``intelshare certs init``). A node whose certificate is missing
gets one at start (:func:`ops.broker_properties.node_certificates`), naming 127.0.0.1,
``localhost`` and ``node-<i>``; one that exists (an operator's, with more host names) is used as
it is, unless it has expired or does not name 127.0.0.1, where the nodes reach each other: then
start is refused with the command that re-issues it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import structlog

from ops.broker_config import kafka_uuid
from streams.errors import BrokerError, ConfigError
from streams.settings import Settings

__all__ = [
    "MTLS_OFFSET",
    "NODES",
    "PORT_OFFSET",
    "PROPERTIES",
    "Node",
    "bootstrap",
    "check_ports",
    "cluster_dir",
    "initial_controllers",
    "is_formatted",
    "nodes",
    "ports_of",
    "quorum",
]

log = structlog.get_logger(__name__)

NODES = 3
"""The local cluster's size: three voters survive the loss of one."""
PORT_OFFSET = 100
"""Node 1's ports are the single broker's plus this; each further node adds 2."""
MTLS_OFFSET = 2 * NODES
"""A TLS node's mutual-TLS port is its client port plus this, clear of every node's client and
controller port."""
PROPERTIES = "cluster.properties"
"""The file of a cluster's folder that keeps its id and its quorum."""


class Node(NamedTuple):
    """One node of the local cluster."""

    node_id: int
    """Its ``node.id``, 1 to 3."""
    port: int
    """Its client port on 127.0.0.1 (SASL_SSL on the TLS cluster)."""
    controller_port: int
    """Its KRaft controller port on 127.0.0.1."""
    data: Path
    """The folder it runs from: config, storage, logs and pid file."""
    mtls_port: int
    """Its mutual-TLS port on 127.0.0.1, when the cluster runs with TLS."""


def cluster_dir(settings: Settings, secure: bool = False) -> Path:
    """The cluster's folder: beside the single broker's, its name with ``-cluster``, or with
    ``-secure-cluster`` for the secure cluster."""
    data = settings.broker_data_dir.resolve()
    return data.with_name(f"{data.name}-{'secure-' if secure else ''}cluster")


def nodes(settings: Settings, count: int = NODES, *, secure: bool = False) -> list[Node]:
    """The nodes of the cluster, their ports from ``settings`` as the module says."""
    folder = cluster_dir(settings, secure)
    members = []
    for i in range(1, count + 1):
        port = settings.broker_port + PORT_OFFSET + 2 * (i - 1)
        controller = settings.controller_port + PORT_OFFSET + 2 * (i - 1)
        members.append(Node(i, port, controller, folder / f"node-{i}", port + MTLS_OFFSET))
    return members


def bootstrap(members: list[Node]) -> str:
    """The client addresses of ``members``, comma-separated (``KAFKA_BOOTSTRAP_SERVERS``)."""
    return ",".join(f"127.0.0.1:{node.port}" for node in members)


def initial_controllers(members: list[Node], directories: list[str]) -> str:
    """StorageTool's ``--initial-controllers``: ``id@127.0.0.1:port:directory_id`` each."""
    return ",".join(
        f"{node.node_id}@127.0.0.1:{node.controller_port}:{directory}"
        for node, directory in zip(members, directories, strict=True)
    )


def ports_of(node: Node, tls: bool) -> list[int]:
    return [node.port, node.controller_port, *([node.mtls_port] if tls else [])]


def check_ports(settings: Settings, members: list[Node], tls: bool = False) -> None:
    """Refuse settings under which two nodes, or a node and the single broker, share a port."""
    ports = [settings.broker_port, settings.controller_port]
    ports += [port for node in members for port in ports_of(node, tls)]
    if len(set(ports)) != len(ports):
        raise ConfigError(
            f"the cluster's ports {ports[2:]} overlap each other or the single broker's "
            f"{ports[:2]}; set INTELSHARE_CONTROLLER_PORT to INTELSHARE_BROKER_PORT + 1"
        )


def is_formatted(node: Node) -> bool:
    """Whether the storage of ``node`` was formatted."""
    return (node.data / "kraft-logs" / "meta.properties").is_file()


def quorum(folder: Path, members: list[Node]) -> tuple[str, str]:
    """The cluster id and ``--initial-controllers``: drawn on the first start, then read back."""
    path = folder / PROPERTIES
    formatted = [node.node_id for node in members if is_formatted(node)]
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
    lost = [node.node_id for node in members if not is_formatted(node)]
    if formatted and lost:
        raise BrokerError(
            f"the storage of node(s) {lost} in {folder} is gone while node(s) {formatted} keep "
            "theirs; a voter cannot rejoin the quorum with a fresh disk, so stop the cluster "
            f"(`intelshare broker stop`) and remove {folder} to start a fresh one"
        )
    return cluster_id, voters
