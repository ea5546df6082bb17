"""The local 3-node cluster's configuration, without starting a JVM: ports, quorum, replication,
the secure and TLS nodes' listeners and certificates, and the refusals that come before anything
runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops import cluster
from ops.broker_properties import (
    TlsListeners,
    node_certificates,
    secure_properties,
    server_properties,
)
from ops.cluster_layout import check_ports
from streams.core.certs import CertStore, Kind, describe
from streams.errors import BrokerError, CertificateError, ConfigError
from streams.kafka.topics import replication_for
from streams.settings import Settings


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")


def test_default_ports_leave_the_single_broker_its_own(tmp_path: Path) -> None:
    """Node i takes 9192/9193 + 2(i-1): never 9092/9093, and the bootstrap list names all three."""
    nodes = cluster.nodes(Settings(home=tmp_path))
    assert [(n.node_id, n.port, n.controller_port) for n in nodes] == [
        (1, 9192, 9193),
        (2, 9194, 9195),
        (3, 9196, 9197),
    ]
    assert cluster.bootstrap(nodes) == "127.0.0.1:9192,127.0.0.1:9194,127.0.0.1:9196"
    assert {n.data.name for n in nodes} == {"node-1", "node-2", "node-3"}
    assert all(n.data.parent == tmp_path.resolve() / "broker-cluster" for n in nodes)


def test_ports_follow_the_settings() -> None:
    """INTELSHARE_BROKER_PORT and INTELSHARE_CONTROLLER_PORT move the whole cluster."""
    nodes = cluster.nodes(Settings(broker_port=20000, controller_port=20001))
    assert [n.port for n in nodes] == [20100, 20102, 20104]
    assert [n.controller_port for n in nodes] == [20101, 20103, 20105]


def test_every_node_is_formatted_with_the_same_three_voters() -> None:
    """--initial-controllers names each voter with its controller port and directory id."""
    nodes = cluster.nodes(Settings())
    voters = cluster.initial_controllers(nodes, ["AAAA", "BBBB", "CCCC"])
    assert voters == "1@127.0.0.1:9193:AAAA,2@127.0.0.1:9195:BBBB,3@127.0.0.1:9197:CCCC"


def test_a_cluster_node_replicates_the_internal_topics_three_times() -> None:
    """Node 2 of 3: its own id and ports, a dynamic quorum of all three, offsets and transaction
    state with three replicas and a min ISR of 2."""
    quorum = "127.0.0.1:9193,127.0.0.1:9195,127.0.0.1:9197"
    props = _properties(server_properties(2, (9194, 9195), quorum, Path("/d/kraft-logs"), 3))
    assert props["node.id"] == "2"
    assert props["controller.quorum.bootstrap.servers"] == quorum
    assert "controller.quorum.voters" not in props
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9194,CONTROLLER://127.0.0.1:9195"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["log.dirs"] == "/d/kraft-logs"


def test_the_single_broker_keeps_one_replica() -> None:
    """The single broker's config is as before: node 1, one replica, min ISR 1."""
    props = _properties(server_properties(1, (9092, 9093), "127.0.0.1:9093", Path("/d")))
    assert props["node.id"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"


@pytest.mark.parametrize(
    ("brokers", "expected"),
    [
        (1, (1, {})),
        (2, (2, {})),
        (3, (3, {"min.insync.replicas": "2"})),
        (5, (3, {"min.insync.replicas": "2"})),
    ],
)
def test_topics_get_as_many_replicas_as_brokers_three_at_most(
    brokers: int, expected: tuple[int, dict[str, str]]
) -> None:
    """min(3, brokers) replicas; with three, a write needs two of them."""
    assert replication_for(brokers) == expected


def test_tls_without_secure_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """--tls with --nodes but without --secure is refused before anything is written."""
    with pytest.raises(ConfigError, match="--tls needs --secure"):
        cluster.start(Settings(home=tmp_path), tls=True)
    assert not (tmp_path / "broker-cluster").exists()
    assert not (tmp_path / "broker-secure-cluster").exists()


def test_the_secure_cluster_has_a_folder_of_its_own(tmp_path: Path) -> None:
    """The secure cluster's nodes run from broker-secure-cluster, on the plain cluster's ports."""
    settings = Settings(home=tmp_path)
    plain, secure = cluster.nodes(settings), cluster.nodes(settings, secure=True)
    assert (
        cluster.cluster_dir(settings, secure=True) == tmp_path.resolve() / "broker-secure-cluster"
    )
    assert [n.data.parent.name for n in secure] == ["broker-secure-cluster"] * 3
    assert [n.port for n in secure] == [n.port for n in plain]


def test_mutual_tls_ports_meet_no_other_port_of_the_cluster() -> None:
    """Node i's mutual-TLS port is its client port + 6: 9198, 9200, 9202, none of them a
    client or controller port of any node (client port + 2, the single broker's scheme,
    would be the next node's client port)."""
    members = cluster.nodes(Settings())
    assert [n.mtls_port for n in members] == [9198, 9200, 9202]
    ports = [p for n in members for p in (n.port, n.controller_port, n.mtls_port)]
    assert len(set(ports)) == len(ports) == 9


def test_mutual_tls_ports_count_only_with_tls(tmp_path: Path) -> None:
    """A controller port that lands on node 1's mutual-TLS port is refused with --tls, before
    anything is written; without TLS those ports are not listened on."""
    settings = Settings(home=tmp_path, broker_port=20000, controller_port=20006)
    with pytest.raises(ConfigError, match="INTELSHARE_CONTROLLER_PORT"):
        cluster.start(settings, secure=True, tls=True)
    assert not (tmp_path / "broker-secure-cluster").exists()
    check_ports(settings, cluster.nodes(settings), tls=False)


def _node_2(tmp_path: Path, tls: bool) -> dict[str, str]:
    node = cluster.nodes(Settings(home=tmp_path), secure=True)[1]
    listeners = TlsListeners(node.mtls_port, Path("/k/node-2.pem"), Path("/c/ca.pem"))
    quorum = "127.0.0.1:9193,127.0.0.1:9195,127.0.0.1:9197"
    text = cluster.node_properties(node, quorum, 3, "s3cret", listeners if tls else None)
    return _properties(text.replace("\\\n", ""))


def test_a_tls_node_speaks_tls_on_every_link(tmp_path: Path) -> None:
    """Node 2 of the TLS cluster: SASL_SSL for clients and between brokers, the controllers'
    link over TLS, mutual TLS on its own port with the certificate's CN as the user, TLS 1.2
    and 1.3 only, its own certificate; three replicas, min ISR 2; ACLs with the admin as the
    only super user; nothing listens beyond 127.0.0.1, nothing in plaintext."""
    props = _node_2(tmp_path, tls=True)
    assert props["node.id"] == "2"
    assert props["listeners"] == (
        "SASL_SSL://127.0.0.1:9194,MTLS://127.0.0.1:9200,CONTROLLER://127.0.0.1:9195"
    )
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:9194,MTLS://127.0.0.1:9200"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert protocols["CONTROLLER"] == "SASL_SSL"
    assert protocols["MTLS"] == "SSL"
    assert "PLAINTEXT" not in props["listeners"]
    assert props["ssl.enabled.protocols"] == "TLSv1.3,TLSv1.2"
    assert props["ssl.endpoint.identification.algorithm"] == "https"
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    assert "ssl.client.auth" not in props  # SASL_SSL clients need no certificate
    assert props["ssl.principal.mapping.rules"].startswith("RULE:^CN=([^,]+)")
    assert props["ssl.keystore.location"] == "/k/node-2.pem"
    assert props["ssl.truststore.location"] == "/c/ca.pem"
    assert props["super.users"] == "User:admin"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"


def test_a_secure_node_without_tls_speaks_sasl_plaintext(tmp_path: Path) -> None:
    """--secure without --tls: SCRAM and ACLs on SASL_PLAINTEXT, no TLS listener."""
    props = _node_2(tmp_path, tls=False)
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:9194,CONTROLLER://127.0.0.1:9195"
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["super.users"] == "User:admin"
    assert not any(key.startswith("ssl.") for key in props)
    assert props["transaction.state.log.replication.factor"] == "3"


def test_the_single_tls_broker_on_a_network_name_listens_everywhere() -> None:
    """The single TLS broker's config from the same template: with a host name it listens on
    every address and advertises the name, and its loopback listener is SASL_PLAINTEXT on
    127.0.0.1 only."""
    listeners = TlsListeners(9094, Path("/k.pem"), Path("/ca.pem"), "exchange.example.org", 9095)
    text = secure_properties(1, (9092, 9093), "127.0.0.1:9093", Path("/d"), "pw", tls=listeners)
    props = _properties(text.replace("\\\n", ""))
    assert props["listeners"] == (
        "SASL_SSL://0.0.0.0:9092,MTLS://0.0.0.0:9094,CONTROLLER://127.0.0.1:9093,"
        "LOOPBACK://127.0.0.1:9095"
    )
    assert props["advertised.listeners"] == (
        "SASL_SSL://exchange.example.org:9092,MTLS://exchange.example.org:9094,"
        "LOOPBACK://127.0.0.1:9095"
    )
    assert props["offsets.topic.replication.factor"] == "1"


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _store(tmp_path: Path) -> CertStore:
    store = CertStore(tmp_path / "certs")
    store.init("test CA", NOW - timedelta(days=1))
    return store


def test_missing_node_certificates_are_issued_by_the_exchange_ca(tmp_path: Path) -> None:
    """Each node without a certificate gets one from the CA, naming 127.0.0.1, localhost and
    its node name, its key mode 0600."""
    store = _store(tmp_path)
    node_certificates(store, [1, 2, 3], NOW)
    for i in (1, 2, 3):
        info = describe(store.cert_of(f"node-{i}").read_bytes())
        assert info.name == f"node-{i}"
        assert set(info.hosts) == {"127.0.0.1", "localhost", f"node-{i}"}
        assert info.issuer == "test CA"
        assert store.key_of(f"node-{i}").stat().st_mode & 0o777 == 0o600


def test_an_operators_node_certificate_is_kept(tmp_path: Path) -> None:
    """A node certificate that exists (with the operator's host names) is used as it is."""
    store = _store(tmp_path)
    store.issue(Kind.NODE, "node-1", ["exchange.example.org", "127.0.0.1"], NOW)
    before = store.cert_of("node-1").read_bytes()
    node_certificates(store, [1, 2, 3], NOW)
    assert store.cert_of("node-1").read_bytes() == before
    assert store.cert_of("node-3").is_file()


@pytest.mark.parametrize(
    ("hosts", "days", "refusal"),
    [
        (["127.0.0.1"], 1, r"expired at .*certs issue --node 2"),
        (["exchange.example.org"], 90, r"does not name 127\.0\.0\.1.*certs issue --node 2"),
    ],
)
def test_an_unusable_node_certificate_is_refused_with_what_to_do(
    tmp_path: Path, hosts: list[str], days: int, refusal: str
) -> None:
    """An expired node certificate, or one that does not name 127.0.0.1, is refused with the
    command that re-issues it."""
    store = _store(tmp_path)
    store.issue(Kind.NODE, "node-2", hosts, NOW - timedelta(days=2), days)
    with pytest.raises(BrokerError, match=refusal):
        node_certificates(store, [1, 2, 3], NOW)


def test_no_ca_no_node_certificates(tmp_path: Path) -> None:
    """Without the exchange's CA the cluster's certificates are not made: `certs init` first."""
    store = CertStore(tmp_path / "certs")
    with pytest.raises(CertificateError, match="intelshare certs init"):
        node_certificates(store, [1, 2, 3], NOW)


def test_overlapping_ports_are_refused(tmp_path: Path) -> None:
    """A controller port that lands on another node's client port is a configuration error."""
    settings = Settings(home=tmp_path, broker_port=20000, controller_port=20002)
    with pytest.raises(ConfigError, match="INTELSHARE_CONTROLLER_PORT"):
        cluster.start(settings)


def test_changed_ports_are_refused(tmp_path: Path) -> None:
    """A cluster formatted on other ports is not started on new ones: its quorum names the old."""
    folder = tmp_path / "broker-cluster"
    folder.mkdir()
    old = cluster.initial_controllers(cluster.nodes(Settings()), ["AAAA", "BBBB", "CCCC"])
    (folder / "cluster.properties").write_text(f"cluster.id=X\ninitial.controllers={old}\n")
    with pytest.raises(ConfigError, match="no longer give"):
        cluster.start(Settings(home=tmp_path, broker_port=20000, controller_port=20001))


def test_a_node_that_lost_its_storage_is_not_reformatted(tmp_path: Path) -> None:
    """One node formatted, the others not: refused, naming the folder to remove."""
    settings = Settings(home=tmp_path)
    nodes = cluster.nodes(settings)
    folder = cluster.cluster_dir(settings)
    (nodes[0].data / "kraft-logs").mkdir(parents=True)
    (nodes[0].data / "kraft-logs" / "meta.properties").write_text("cluster.id=X\n")
    voters = cluster.initial_controllers(nodes, ["AAAA", "BBBB", "CCCC"])
    (folder / "cluster.properties").write_text(f"cluster.id=X\ninitial.controllers={voters}\n")
    with pytest.raises(BrokerError, match=r"node\(s\) \[2, 3\]"):
        cluster.start(settings)


def test_no_cluster_no_status_lines(tmp_path: Path) -> None:
    """A home where no cluster was started reports no cluster nodes."""
    assert cluster.status(Settings(home=tmp_path)) == []
