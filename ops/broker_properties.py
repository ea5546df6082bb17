"""What a local Kafka node runs with: its ``server.properties`` (plaintext, secure, or secure over
TLS) and its TLS files, for the single broker (:mod:`ops.broker_config`) and each node of the
local cluster (:mod:`ops.cluster`) alike.

The secure broker: clients authenticate with SASL/SCRAM-SHA-512, the KRaft StandardAuthorizer
allows only what ACLs grant, and the admin (:data:`ADMIN_USER`) is the one super user; the
brokers use the admin's credential to talk to each other and to the controllers, so it is
written into the config, which is kept mode 0600. The TLS broker adds TLS to every link (see
``_TLS``). Its node certificates come from the exchange's CA (:mod:`streams.core.certs`): for the
single broker the operator issues ``node-1``; for the cluster :func:`node_certificates` issues
the missing ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import structlog

from streams.core.certs import CertStore, Kind, describe
from streams.core.keyfiles import write_private
from streams.errors import BrokerError

__all__ = [
    "ADMIN_USER",
    "TlsListeners",
    "node_certificates",
    "node_keystore",
    "scram_options",
    "secure_properties",
    "server_properties",
]

log = structlog.get_logger(__name__)

_LOOPBACK = "127.0.0.1"

ADMIN_USER = "admin"
"""The secure broker's super user: it creates the other users and their ACLs."""

_HEAD = """\
# Written by intelshare (ops/broker_properties.py) at each start: change the settings instead.
process.roles=broker,controller
node.id={node_id}
controller.quorum.bootstrap.servers={quorum}
"""
_PLAINTEXT = """\
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"""


_SCRAM_LOGIN = """\\
  org.apache.kafka.common.security.scram.ScramLoginModule required \\
  username="{admin}" password="{password}";
"""


def _scram_login(listener: str) -> str:
    """The JAAS entry with which the admin's SCRAM credential logs in on ``listener``."""
    return f"listener.name.{listener}.scram-sha-512.sasl.jaas.config=" + _SCRAM_LOGIN


_CONTROLLER_LOGIN = """\
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=\\
  org.apache.kafka.common.security.plain.PlainLoginModule required \\
  username="{admin}" password="{password}" user_{admin}="{password}";
"""
_ACLS = """\
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{admin}
"""
_SECURE = (
    """\
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
"""
    + _scram_login("sasl_plaintext")
    + _CONTROLLER_LOGIN
    + _ACLS
)
_TLS = (
    """\
listeners=SASL_SSL://{bind}:{port},MTLS://{bind}:{mtls},CONTROLLER://127.0.0.1:{controller}{loopback}
advertised.listeners=SASL_SSL://{host}:{port},MTLS://{host}:{mtls}{advertised_loopback}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:SASL_SSL,LOOPBACK:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
"""
    + _scram_login("sasl_ssl")
    + _scram_login("loopback")
    + _CONTROLLER_LOGIN
    + """\
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={truststore}
ssl.protocol=TLSv1.3
ssl.enabled.protocols=TLSv1.3,TLSv1.2
ssl.endpoint.identification.algorithm=https
listener.name.mtls.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT
"""
    + _ACLS
)
"""The TLS broker (``--secure --tls``): SASL/SCRAM over TLS for clients and between brokers,
the controller's link over TLS, and a mutual-TLS listener (``MTLS``) where a client
certificate's common name is the Kafka user, under the same ACLs as a SCRAM user of that name.
TLS 1.2 and 1.3 only, with the JVM's default (modern) cipher suites."""
_CONFIG = """\
log.dirs={logs}
num.partitions=1
auto.create.topics.enable=false
default.replication.factor={replicas}
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
"""


class TlsListeners(NamedTuple):
    """What a TLS broker node needs beyond its client and controller ports."""

    mtls: int
    """Its mutual-TLS port (certificate users)."""
    keystore: Path
    """Its key and certificate chain in one PEM file (mode 0600), as Kafka reads them."""
    truststore: Path
    """The CA certificate it trusts its peers and clients by."""
    host: str = "127.0.0.1"
    """The name it advertises; other than 127.0.0.1 it listens on every address."""
    loopback: int | None = None
    """A SASL_PLAINTEXT port on 127.0.0.1 for tools on its own machine, or none."""


def node_keystore(store: CertStore, node: int, data: Path) -> Path:
    """Node ``node``'s key and certificate chain from ``store``, copied into one PEM keystore
    (mode 0600) in ``data``; :class:`BrokerError` naming the commands that make them."""
    name = CertStore.node_name(node)
    try:
        key = store.key_of(name).read_bytes()
        chain = store.cert_of(name).read_bytes()
        store.ca_cert.read_bytes()
    except OSError as exc:
        raise BrokerError(
            f"the TLS broker needs the exchange's CA and {name}'s certificate in {store.folder} "
            f"({exc.filename}: {exc.strerror}); run `intelshare certs init` and `intelshare certs "
            f"issue --node {node} --host NAME` (NAME: the broker's host name, "
            "INTELSHARE_BROKER_HOST)"
        ) from exc
    keystore = data / "tls" / f"{name}.keystore.pem"
    write_private(keystore, key + chain, replace=True)
    return keystore


def secure_properties(
    node_id: int,
    ports: tuple[int, int],
    quorum: str,
    logs: Path,
    password: str,
    replicas: int = 1,
    tls: TlsListeners | None = None,
) -> str:
    """The secure ``server.properties`` of node ``node_id``: SASL/SCRAM and ACLs, with ``tls``
    over TLS (SASL_SSL for clients and between brokers, the controllers' link over TLS, mutual
    TLS on ``tls.mtls``). The arguments are :func:`server_properties`' and the admin's
    ``password``, which the brokers use to talk to each other and to the controllers."""
    values: dict[str, object] = {}
    listeners = _SECURE
    if tls is not None:
        loopback = f",LOOPBACK://127.0.0.1:{tls.loopback}" if tls.loopback else ""
        listeners = _TLS
        values = {
            "bind": "127.0.0.1" if tls.host == "127.0.0.1" else "0.0.0.0",  # noqa: S104 (network)
            "host": tls.host,
            "mtls": tls.mtls,
            "loopback": loopback,
            "advertised_loopback": loopback,
            "keystore": tls.keystore,
            "truststore": tls.truststore,
        }
    port, controller = ports
    return (_HEAD + listeners + _CONFIG).format(
        node_id=node_id, quorum=quorum, port=port, controller=controller, logs=logs,
        replicas=replicas, min_isr=_min_isr(replicas), admin=ADMIN_USER, password=password,
        **values,
    )  # fmt: skip


def scram_options(password: str) -> list[str]:
    """StorageTool's options that make the admin's SCRAM credential part of the metadata
    every node is formatted with."""
    return ["--add-scram", f"SCRAM-SHA-512=[name={ADMIN_USER},password={password}]"]


def _min_isr(replicas: int) -> int:
    return 2 if replicas >= 3 else 1


def server_properties(
    node_id: int, ports: tuple[int, int], quorum: str, logs: Path, replicas: int = 1
) -> str:
    """The plaintext ``server.properties`` of node ``node_id`` of a KRaft quorum.

    ``ports`` are its client and controller ports on 127.0.0.1, ``quorum`` every controller's
    ``host:port`` (comma-separated), ``replicas`` the replication factor of the internal topics
    (offsets, transaction state); with 3, their min.insync.replicas is 2.
    """
    port, controller = ports
    return (_HEAD + _PLAINTEXT + _CONFIG).format(
        node_id=node_id, quorum=quorum, port=port, controller=controller, logs=logs,
        replicas=replicas, min_isr=_min_isr(replicas),
    )  # fmt: skip


def node_certificates(store: CertStore, node_ids: Sequence[int], now: datetime) -> None:
    """Issue from ``store``'s CA the certificate of each node of ``node_ids`` that has none
    (naming 127.0.0.1, localhost and ``node-<i>``); refuse one that expired or does not name
    127.0.0.1, where the nodes of the local cluster reach each other."""
    for node in node_ids:
        name = store.node_name(node)
        cert, key = store.cert_of(name), store.key_of(name)
        if not cert.is_file() or not key.is_file():
            store.issue(Kind.NODE, name, [_LOOPBACK, "localhost", name], now)
            log.info("node_certificate_issued", node=node, path=str(cert))
            continue
        info = describe(cert.read_bytes())
        renew = f"`intelshare certs issue --node {node}` (add --host for other names)"
        if info.not_after <= now:
            raise BrokerError(
                f"the certificate of node {node}, {cert}, expired at "
                f"{info.not_after.isoformat()}; renew it with {renew}"
            )
        if _LOOPBACK not in info.hosts:
            raise BrokerError(
                f"the certificate of node {node}, {cert}, does not name {_LOOPBACK}, where the "
                f"cluster's nodes reach each other; re-issue it with {renew}"
            )
