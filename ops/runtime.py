"""Running a whole exchange on the local broker for the demo and the benchmark: a fresh topic
prefix and state folder, the worker as a child process, and waiting on its status page."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.errors import IntelshareError
from streams.settings import Settings

__all__ = [
    "await_worker",
    "free_port",
    "isolated",
    "launch_worker",
    "settled",
    "stop_worker",
    "wait_for",
    "worker_status",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def isolated(base: Settings, kind: str, now: datetime) -> tuple[Settings, Path, int]:
    """Settings for a run of its own: topic prefix, state folder and web port, on the broker
    of ``base``; also exported to the environment for the commands and the worker."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    work = (base.home / kind / stamp).resolve()
    work.mkdir(parents=True)
    port = free_port()
    os.environ.update(
        INTELSHARE_HOME=str(work),
        INTELSHARE_TOPIC_PREFIX=f"{kind}{stamp}.",
        INTELSHARE_BROKER_DIR=str(base.broker_data_dir.resolve()),
        KAFKA_BOOTSTRAP_SERVERS=base.bootstrap_servers,
        INTELSHARE_WEB_PORT=str(port),
    )
    return Settings.load(), work, port


def worker_status(port: int, context: ssl.SSLContext | None = None) -> dict[str, Any] | None:
    """The worker's /status/ page (over HTTPS with a TLS ``context``), or None when it does
    not answer."""
    url = f"{'https' if context else 'http'}://127.0.0.1:{port}/status/"
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            loaded: dict[str, Any] = json.loads(response.read())
            return loaded
    except OSError:
        return None


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> None:
    """Poll ``check`` until it is true; IntelshareError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise IntelshareError(f"timed out after {timeout:.0f} s waiting for {what}")


def settled(port: int) -> bool:
    """True when the worker's counts did not move for a second and a half."""
    before = worker_status(port)
    time.sleep(1.5)
    return before is not None and before == worker_status(port)


def launch_worker(
    log: Path, port: int, env: dict[str, str] | None = None, *, wait: bool = True
) -> subprocess.Popen[bytes]:
    """``intelshare worker`` as a child in its own session; returns once every step consumes
    (or at once without ``wait``: then :func:`await_worker`)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=dict(os.environ if env is None else env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if wait:
        await_worker(process, port, log)
    return process


def await_worker(
    process: subprocess.Popen[bytes], port: int, log: Path, context: ssl.SSLContext | None = None
) -> None:
    """Return once the worker of :func:`launch_worker` has every step consuming (its status
    page read over HTTPS with a TLS ``context``)."""

    def ready() -> bool:
        if process.poll() is not None:
            raise IntelshareError(f"the worker exited with {process.returncode}; see {log}")
        return bool((worker_status(port, context) or {}).get("ready"))

    wait_for("the worker to start", ready, 90)


def stop_worker(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """SIGTERM (finish open transactions) or SIGKILL (a crash), and wait for the exit."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
