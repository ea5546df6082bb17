"""The local broker of ops/: start is idempotent, status tells the truth, stop is clean.

Runs a second broker on its own ports and folder, beside the session's broker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import broker
from streams.errors import BrokerError
from streams.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def own(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        broker_port=19392,
        controller_port=19393,
        bootstrap_servers="127.0.0.1:19392",
        broker_heap="256m",
    )


def test_lifecycle(own: Settings, kafka_bootstrap: str) -> None:
    """Start formats and answers; a second start reuses it; stop ends it; a restart keeps data."""
    try:
        assert broker.start(own) == "127.0.0.1:19392"
        first = broker.status(own)
        assert first.running
        assert first.answering
        assert (own.broker_data_dir / "kraft-logs" / "meta.properties").is_file()

        assert broker.start(own) == "127.0.0.1:19392"
        assert broker.status(own).pid == first.pid

        assert broker.stop(own) is True
        stopped = broker.status(own)
        assert not stopped.running
        assert not stopped.answering
        assert broker.stop(own) is False

        broker.start(own)
        assert broker.status(own).answering
    finally:
        broker.stop(own)


def test_stale_pid_file_is_not_a_running_broker(own: Settings) -> None:
    """A pid file left by a dead process does not make status claim a broker runs."""
    own.broker_data_dir.mkdir(parents=True)
    (own.broker_data_dir / "broker.pid").write_text("999999\n")
    state = broker.status(own)
    assert not state.running
    assert "stale" in state.detail


def test_port_taken_by_another_process_is_named(own: Settings, kafka_bootstrap: str) -> None:
    """Starting on a port something else holds fails with the port and the setting to change."""
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    taken = Settings(home=own.home, broker_port=port, controller_port=19393)
    with pytest.raises(BrokerError, match=f"port {port}"):
        broker.start(taken)
