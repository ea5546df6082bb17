"""The local Apache Kafka broker: one KRaft process, started, stopped and watched.

The broker runs as ``java -cp CLASSPATH kafka.Kafka server.properties`` (combined broker and
controller) on 127.0.0.1, with a bounded heap and its data, logs and pid file in
``Settings.broker_data_dir``. Start is idempotent and returns only once the broker answers a
metadata request. ``start(settings, secure=True)`` runs the secure broker (SASL/SCRAM and ACLs)
from its own folder. What the process runs from (the classpath assembled with Maven, the config
file, the formatted storage, the admin's password) is prepared by :mod:`ops.broker_config`, whose
public names are re-exported here. The local 3-node cluster (:mod:`ops.cluster`) runs each of its
nodes with the helpers below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import structlog

from ops.broker_config import (
    ADMIN_USER,
    CLASSPATH,
    POM,
    admin_password_file,
    assemble,
    config_file,
    plaintext_settings,
    prepare,
    secure_settings,
)
from streams.errors import BrokerError
from streams.kafka.clients import admin_client
from streams.settings import Settings

__all__ = [
    "ADMIN_USER",
    "CLASSPATH",
    "POM",
    "BrokerStatus",
    "admin_password_file",
    "assemble",
    "secure_settings",
    "start",
    "status",
    "stop",
]

log = structlog.get_logger(__name__)


class BrokerStatus(NamedTuple):
    """What ``intelshare broker status`` reports."""

    running: bool
    """A broker process started by us is alive."""
    pid: int | None
    """Its process id."""
    bootstrap: str
    """The address clients use."""
    answering: bool
    """It answered a metadata request just now."""
    detail: str
    """Anything else worth saying (a stale pid file, a port held by another process)."""


def start(settings: Settings, *, secure: bool = False, tls: bool = False) -> str:
    """Start the broker unless ours runs already; return its bootstrap address once it answers.

    ``tls`` (with ``secure``): SASL_SSL on the broker port, mutual TLS on ``mtls_port``, the
    certificates from ``Settings.certs_dir`` (see :mod:`ops.broker_config`)."""
    if tls and not secure:
        raise BrokerError("--tls needs --secure: `intelshare broker start --secure --tls`")
    settings = secure_settings(settings, tls) if secure else plaintext_settings(settings)
    data = settings.broker_data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    with _lock(data):
        pid, _ = _our_pid(settings)
        launched = pid is None
        if pid is None:
            for port in _ports(settings, tls):
                if _port_taken(port):
                    raise BrokerError(
                        f"port {port} on 127.0.0.1 is held by another process, not by the broker "
                        f"of {data}; stop that process (`ss -ltnp 'sport = :{port}'` names it) or "
                        "set INTELSHARE_BROKER_PORT and INTELSHARE_CONTROLLER_PORT"
                    )
            pid = _launch(settings, data, prepare(settings, data, secure=secure, tls=tls))
        return _wait_until_answering(settings, pid, launched)


def _ports(settings: Settings, tls: bool) -> list[int]:
    """The ports the broker of ``settings`` listens on."""
    ports = [settings.broker_port, settings.controller_port]
    if tls:
        ports.append(settings.mtls_port)
        ports += [settings.broker_loopback_port] if settings.broker_loopback_port else []
    return ports


def _wait_until_answering(settings: Settings, pid: int, launched: bool) -> str:
    bootstrap = f"127.0.0.1:{settings.broker_port}"
    begun = time.monotonic()
    while time.monotonic() - begun < settings.broker_start_timeout:
        if _port_taken(settings.broker_port) and _answers(settings, 2.0):
            waited = round(time.monotonic() - begun, 1)
            log.info("broker_ready", bootstrap=bootstrap, pid=pid, seconds=waited)
            return bootstrap
        if not _alive(pid):
            _pid_file(settings).unlink(missing_ok=True)
            raise BrokerError(f"the broker exited while starting:\n{_log_tail(settings)}")
        time.sleep(0.2)
    if launched:
        _terminate(pid)
        _pid_file(settings).unlink(missing_ok=True)
    raise BrokerError(
        f"the broker did not answer within {settings.broker_start_timeout:.0f} s "
        f"(INTELSHARE_BROKER_START_TIMEOUT){'; stopped it' if launched else ''}:\n"
        f"{_log_tail(settings)}"
    )


def _launch(settings: Settings, data: Path, command: list[str]) -> int:
    """Start the JVM of ``command`` (made by :mod:`ops.broker_config`) detached, from ``data``."""
    with (data / "logs" / "broker.out").open("ab") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=data,
        )  # fmt: skip
    _pid_file(settings).write_text(f"{process.pid}\n")
    log.info("broker_launched", pid=process.pid, data=str(data), heap=settings.broker_heap)
    return process.pid


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop our broker, plaintext or secure, cleanly (SIGTERM, then SIGKILL after ``timeout``).

    False if neither ran.
    """
    stopped = _stop_one(plaintext_settings(settings), timeout)
    return _stop_one(secure_settings(settings), timeout) or stopped


def _stop_one(settings: Settings, timeout: float) -> bool:
    data = settings.broker_data_dir.resolve()
    if not data.is_dir():
        return False
    with _lock(data):
        pid, _ = _our_pid(settings)
        if pid is not None:
            begun = time.monotonic()
            _terminate(pid, timeout)
            log.info("broker_stopped", pid=pid, seconds=round(time.monotonic() - begun, 1))
        _pid_file(settings).unlink(missing_ok=True)
    return pid is not None


def status(settings: Settings) -> BrokerStatus:
    """Whether our broker (the secure one, if it runs) answers; a stale pid file is not running."""
    secure = secure_settings(settings)
    if _our_pid(secure)[0] is not None:
        return _status_of(
            secure, "secure tls" if secure.security_protocol == "SASL_SSL" else "secure"
        )
    return _status_of(plaintext_settings(settings), "")


def _status_of(settings: Settings, kind: str) -> BrokerStatus:
    bootstrap = f"127.0.0.1:{settings.broker_port}"
    pid, detail = _our_pid(settings)
    if pid is None:
        if not detail and _port_taken(settings.broker_port):
            detail = f"port {settings.broker_port} is held by another process"
        return BrokerStatus(False, None, bootstrap, False, detail)
    answering = _answers(settings, 3.0)
    if not answering:
        detail = f"not answering; see {settings.broker_data_dir / 'logs' / 'server.log'}"
    return BrokerStatus(True, pid, bootstrap, answering, f"{kind} {detail}".strip())


def _pid_file(settings: Settings) -> Path:
    return settings.broker_data_dir / "broker.pid"


def _our_pid(settings: Settings) -> tuple[int | None, str]:
    """The pid of a live broker we started from this folder, or None and why."""
    path = _pid_file(settings)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None, ""
    if not _alive(pid):
        return None, f"stale pid file {path}: process {pid} has exited"
    config = str(config_file(settings.broker_data_dir.resolve())).encode()
    with contextlib.suppress(OSError):  # it may exit between the two looks
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"kafka.Kafka" in cmdline and config in cmdline:
            return pid, ""
    return None, f"stale pid file {path}: process {pid} is not this broker"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; an exited child of ours is reaped first, so it is not a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def _terminate(pid: int, timeout: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        log.warning("broker_killed", pid=pid, after_seconds=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)


def _answers(settings: Settings, timeout: float) -> bool:
    """A metadata round trip, not just an open port (as the admin, on a secure broker)."""
    bootstrap = f"127.0.0.1:{settings.broker_port}"
    probe = dataclasses.replace(settings, bootstrap_servers=bootstrap, request_timeout=timeout)
    try:
        with admin_client(probe) as admin:
            admin.describe_cluster()
    except Exception:  # a probe: whatever went wrong, the answer is "not (yet)"
        return False
    return True


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def _lock(data: Path) -> Iterator[None]:
    """Serialise start and stop of one broker folder across processes."""
    with (data / "broker.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def _log_tail(settings: Settings) -> str:
    """The last lines of the JVM's own output and of Kafka's log, each labelled."""
    parts = []
    for name, count in (("broker.out", 10), ("server.log", 25)):
        path = settings.broker_data_dir / "logs" / name
        with contextlib.suppress(OSError), path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 65536))
            text = _last_lines(handle.read().decode(errors="replace"), count)
            if text:
                parts.append(f"--- {path}\n{text}")
    return "\n".join(parts) or f"(nothing logged in {settings.broker_data_dir / 'logs'})"
