"""Run ``intelshare worker`` as a real process for a test, and kill it as a crash would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ops.runtime import free_port, launch_worker, stop_worker, worker_status


class Worker:
    """One worker process with its own web port; its output goes to a log file per start."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = env | {"INTELSHARE_WEB_PORT": str(self.port), "INTELSHARE_LOG_LEVEL": "info"}
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start and wait until every step consumes."""
        self.starts += 1
        self.process = launch_worker(
            self.log_dir / f"worker-{self.starts}.log", self.port, self.env
        )

    def status(self) -> dict[str, Any] | None:
        """The worker's /status/ page, or None when it does not answer."""
        return worker_status(self.port)

    def kill(self) -> None:
        """kill -9 the worker, as a crash would."""
        if self.process is not None:
            stop_worker(self.process, kill=True)

    def stop(self) -> None:
        """Ask the worker to stop, finishing its open transactions."""
        if self.process is not None:
            stop_worker(self.process)
