"""Run ``intelshare worker`` as a real process for a test, and kill it as a crash would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Worker:
    """One worker process with its own web port; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = env | {"INTELSHARE_WEB_PORT": str(self.port), "INTELSHARE_LOG_LEVEL": "info"}
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 90.0) -> None:
        """Start and wait until every step consumes."""
        self.starts += 1
        log = (self.log_dir / f"worker-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited {self.process.returncode}:\n{self.log()}")
            status = self.status()
            if status is not None and status.get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout} s:\n{self.log()}")

    def status(self) -> dict[str, Any] | None:
        """The worker's /status/ page, or None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status/", timeout=2) as r:
                loaded: dict[str, Any] = json.loads(r.read())
                return loaded
        except OSError:
            return None

    def log(self) -> str:
        path = self.log_dir / f"worker-{self.starts}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def kill(self) -> None:
        """kill -9 the worker, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Ask the worker to stop, then make sure it has."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
