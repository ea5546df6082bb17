"""Test fixtures: one real Kafka broker per session, a unique topic prefix per test.

Where the broker comes from (``INTELSHARE_KAFKA``):

- ``local`` (default): the broker of ``ops/``, started if it is not running and stopped at the
  end if this session started it;
- ``docker``: a testcontainers ``apache/kafka`` container, for hosts with a Docker engine;
- any value, with ``KAFKA_BOOTSTRAP_SERVERS`` set: that external broker.

If the broker cannot be had the tests that need it fail with the reason; they never skip.

Under pytest-xdist (``ops/test`` runs ``-n 2 --dist loadscope``: a module at a time per process,
so a module's fixtures are set up once) each worker process asks for the local broker
(``ops.broker.start`` holds a lock, so one starts it and the other finds it), no worker stops
it, and the controller stops it at the end if it was not running at the start. A process that
runs a module of the secure broker starts its own, on ports of its own
(:mod:`tests.integration.secure_broker`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.errors import IntelshareError
from streams.kafka.clients import admin_client
from streams.kafka.topics import create_topics
from streams.settings import Settings
from streams.topics import CATALOGUE, INTERNAL

KAFKA_IMAGE = "apache/kafka:4.4.0"

# The suite reads intelshare's English messages: whatever LANG the machine has, commands run
# here and from cli_env speak English unless a test asks for another language.
os.environ["INTELSHARE_LANG"] = "en"


_BROKER_WAS_UP = pytest.StashKey[bool]()


def _xdist_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


def _xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


def _local_mode() -> bool:
    return (
        "KAFKA_BOOTSTRAP_SERVERS" not in os.environ
        and os.environ.get("INTELSHARE_KAFKA", "local") == "local"
    )


def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller notes whether the local broker already ran (a live pid, answering or
    not), to stop it at the end only if this run started it."""
    if _xdist_controller(config) and _local_mode():
        from ops import broker

        config.stash[_BROKER_WAS_UP] = broker.status(Settings.load()).running


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_BROKER_WAS_UP, True) is False:
        from ops import broker

        broker.stop(Settings.load())


LONGEST_FIRST = (
    "test_engine", "test_cluster", "test_readme_walkthrough", "test_chaos", "test_security",
    "test_exchange", "test_oversight_page", "test_rotation", "test_audit", "test_status",
    "test_tls", "test_erasure", "test_oversight_index", "test_agencies", "test_bench",
    "test_tls_exchange",
)  # fmt: skip
"""Integration modules that take longest, longest first (measured in CI runs): xdist hands
modules out in collection order (ops/test turns off its reorder by tests per module), so a
long one left to the end would keep one process busy while the other idles."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest modules first; a module's tests stay together and in their order."""
    rest = len(LONGEST_FIRST)
    rank = {f"integration/{name}": i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(f"{item.path.parent.name}/{item.path.stem}", rest))


def _answers(bootstrap: str) -> None:
    with admin_client(Settings(bootstrap_servers=bootstrap, request_timeout=20)) as admin:
        admin.describe_cluster()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a real, answering Kafka broker."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    mode = os.environ.get("INTELSHARE_KAFKA", "local")
    try:
        if external:
            _answers(external)
            yield external
        elif mode == "docker":
            yield from _docker_broker()
        elif mode == "local":
            yield from _local_broker()
        else:
            pytest.fail(
                f"INTELSHARE_KAFKA={mode!r}: use local, docker, or set KAFKA_BOOTSTRAP_SERVERS"
            )
    except IntelshareError as exc:
        pytest.fail(f"no Kafka broker for the integration tests: {exc}")


def _local_broker() -> Iterator[str]:
    from ops import broker

    settings = Settings.load()
    already = broker.status(settings).answering
    bootstrap = broker.start(settings)
    try:
        yield bootstrap
    finally:
        if not already and not _xdist_worker():
            broker.stop(settings)


def _docker_broker() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
        yield container.get_bootstrap_server()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a throwaway local PostgreSQL server (:mod:`ops.postgres`), one per test
    process, for the oversight index on PostgreSQL. Without PostgreSQL's binaries the tests
    that need it fail saying what to install; they never skip."""
    from ops import postgres

    try:
        server = postgres.start()
    except IntelshareError as exc:
        pytest.fail(f"no PostgreSQL server for the tests: {exc}")
    try:
        yield server.url
    finally:
        postgres.stop(server)


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings for one test: the session's broker, its own topic prefix and home folder."""
    return Settings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:12]}.",
        home=tmp_path / "home",
        request_timeout=10.0,
    )


@pytest.fixture
def topics(settings: Settings) -> Settings:
    """The test's settings, with every catalogue topic created under its prefix."""
    outcomes = create_topics(settings, CATALOGUE + INTERNAL)
    assert all(o.problem is None for o in outcomes), outcomes
    return settings


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running the ``intelshare`` command against the test's broker and topics."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "INTELSHARE_TOPIC_PREFIX": settings.topic_prefix,
        "INTELSHARE_HOME": str(settings.home),
        "INTELSHARE_REQUEST_TIMEOUT": str(settings.request_timeout),
        "INTELSHARE_LANG": "en",
    }
    return env
