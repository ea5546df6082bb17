"""The local 3-node cluster's configuration, without starting a JVM: ports, quorum, replication,
and the refusals that come before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import cluster
from ops.broker_config import server_properties
from streams.errors import BrokerError, ConfigError
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


def test_secure_cluster_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """--secure with --nodes is refused before anything is written."""
    with pytest.raises(ConfigError, match="--secure with --nodes is not supported yet"):
        cluster.start(Settings(home=tmp_path), secure=True)
    assert not (tmp_path / "broker-cluster").exists()


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
