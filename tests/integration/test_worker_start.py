"""Starting ``intelshare worker`` while no broker answers: one ``intelshare:`` line that says what
to do, a wait of at most ``INTELSHARE_BROKER_WAIT`` seconds, then exit 2; SIGTERM or SIGINT
end the wait at once (exit 0). Never a traceback, a ResourceWarning or librdkafka's log.

The worker is the real process, as an operator starts it; no broker is needed (so no
``integration`` marker): its address is a port that is bound but never listens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

NOISE = ("Traceback", "Unclosed", "ResourceWarning", "%3|", "FAIL|", "Exception ignored")
"""What must never reach stderr: tracebacks, unclosed clients, librdkafka's own log lines."""
WORKER = [sys.executable, "-m", "streams.cli", "worker"]
"""``intelshare worker``, as the console script runs it."""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 held bound, and not listening, for the test: connections are
    refused, and nothing else can start listening there meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def worker_env(closed_port: int, tmp_path: Path) -> dict[str, str]:
    """The worker's environment: no broker at its address, a home and a web port of its own,
    and every ResourceWarning shown (they are ignored by default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")}
    return env | {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port}",
        "INTELSHARE_HOME": str(tmp_path / "home"),
        "INTELSHARE_WEB_PORT": str(_port()),
        "PYTHONWARNINGS": "always::ResourceWarning",
    }


def _clean(stderr: str, address: str) -> str:
    """The one line the worker may print, after checking that it is the only thing printed."""
    assert not [noise for noise in NOISE if noise in stderr], stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("intelshare: "), line
    assert address in line, line
    assert "intelshare broker start" in line, line
    assert "KAFKA_BOOTSTRAP_SERVERS" in line, line
    return line


@contextlib.contextmanager
def _worker(env: dict[str, str], folder: Path, wait: str) -> Iterator[subprocess.Popen[bytes]]:
    """``intelshare worker`` with ``INTELSHARE_BROKER_WAIT=wait``, its stderr in
    ``folder/stderr.txt``; killed at the end if it still runs, whatever the test found."""
    with (folder / "stderr.txt").open("w") as sink:
        worker = subprocess.Popen(
            WORKER,
            env=env | {"INTELSHARE_BROKER_WAIT": wait},
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _first_line(worker: subprocess.Popen[bytes], errors: Path) -> float:
    """When the worker's first line reached stderr (it may be gone by then)."""
    deadline = time.monotonic() + 60  # Python's start-up, slow on a loaded machine
    while not errors.read_text() and time.monotonic() < deadline:
        if worker.poll() is not None:
            break
        time.sleep(0.05)
    assert errors.read_text(), "the worker printed nothing"
    return time.monotonic()


def test_no_broker_exits_2_after_the_wait_with_one_line(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    """With no broker and INTELSHARE_BROKER_WAIT=2, the worker says once what to do, waits about
    2 s, then exits 2 with nothing more on stderr."""
    errors = tmp_path / "stderr.txt"
    with _worker(worker_env, tmp_path, "2") as worker:
        said = _first_line(worker, errors)
        code = worker.wait(timeout=60)
        waited = time.monotonic() - said
    assert code == 2, errors.read_text()
    line = _clean(errors.read_text(), worker_env["KAFKA_BOOTSTRAP_SERVERS"])
    assert "2 s" in line, line
    assert 0.5 <= waited < 2.0 + 5.0, waited  # the first look (1 s) came before the line


def test_a_wait_of_0_exits_2_at_once(worker_env: dict[str, str], tmp_path: Path) -> None:
    """INTELSHARE_BROKER_WAIT=0: one look for the broker, the same one line, exit 2."""
    errors = tmp_path / "stderr.txt"
    with _worker(worker_env, tmp_path, "0") as worker:
        said = _first_line(worker, errors)
        code = worker.wait(timeout=60)
        waited = time.monotonic() - said
    assert code == 2, errors.read_text()
    _clean(errors.read_text(), worker_env["KAFKA_BOOTSTRAP_SERVERS"])
    assert waited < 5.0, waited


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_wait_at_once(
    worker_env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    """While the worker waits (limit 60 s) it stays up and quiet after its one line; SIGTERM or
    SIGINT then stops it within a few seconds, exit 0, without a traceback."""
    errors = tmp_path / "stderr.txt"
    address = worker_env["KAFKA_BOOTSTRAP_SERVERS"]
    with _worker(worker_env, tmp_path, "60") as worker:
        _first_line(worker, errors)
        time.sleep(3)
        assert worker.poll() is None, errors.read_text()
        _clean(errors.read_text(), address)

        worker.send_signal(signum)
        signalled = time.monotonic()
        code = worker.wait(timeout=30)
        assert time.monotonic() - signalled < 5.0
    assert code == 0, errors.read_text()
    _clean(errors.read_text(), address)


@pytest.mark.integration
def test_an_agent_that_fails_for_good_stops_the_worker_with_70(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A worker whose exchange has its topics but no signing key (an operator's mistake, not a
    passing fault): the agents that need it say so and the worker exits 70 at once, without
    restarting them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")} | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "INTELSHARE_HOME": str(tmp_path / "home"),  # no keys/exchange.key there
        "INTELSHARE_TOPIC_PREFIX": f"nokey{os.getpid()}.",
        "INTELSHARE_WEB_PORT": str(_port()),
        "INTELSHARE_LOG_LEVEL": "info",
    }
    topics = subprocess.run(
        [*WORKER[:-1], "topics", "create"], env=env, capture_output=True, text=True, check=False
    )
    assert topics.returncode == 0, topics.stderr
    done = subprocess.run(
        WORKER, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 70, done.stderr[-2000:]
    assert "exchange.key" in done.stderr
    assert "agent_restarting" not in done.stderr
    assert "Traceback" not in done.stderr
