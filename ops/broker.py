"""The local Apache Kafka broker: assembled from Maven Central, run as one KRaft process.

``ops/kafka/pom.xml`` pins Kafka; Maven writes its runtime classpath once. The broker runs as
``java -cp CLASSPATH kafka.Kafka server.properties`` (combined broker and controller) on
127.0.0.1, with a bounded heap and its data, logs and pid file in ``Settings.broker_data_dir``.
Start is idempotent and returns only once the broker answers a metadata request.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import structlog

from streams.clients import admin_client
from streams.errors import BrokerError
from streams.settings import PROJECT_ROOT, Settings

__all__ = ["CLASSPATH", "POM", "BrokerStatus", "assemble", "start", "status", "stop"]

log = structlog.get_logger(__name__)

KAFKA_DIR = PROJECT_ROOT / "ops" / "kafka"
POM = KAFKA_DIR / "pom.xml"
"""The Maven project that pins Kafka and its logging backend."""
CLASSPATH = KAFKA_DIR / "target" / "classpath.txt"
"""Where Maven writes the broker's runtime classpath (git-ignored)."""

_CONFIG = """\
# Written by intelshare (ops/broker.py) at each start; change the settings, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={logs}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


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


def assemble(settings: Settings) -> Path:
    """The classpath file, built with Maven when missing, older than the pom, or stale."""
    if _classpath_fresh():
        return CLASSPATH
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH; install Maven 3 to assemble Kafka")
    command = [mvn, "-q", "-B", "-f", str(POM), "dependency:build-classpath"]
    command.append(f"-Dmdep.outputFile={CLASSPATH}")
    shown = " ".join(["mvn", *command[1:]])
    log.info("kafka_assembling", command=shown)
    begun = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"`{shown}` took over 900 s; is Maven Central reachable?") from exc
    if done.returncode != 0 or not CLASSPATH.is_file():
        raise BrokerError(
            f"`{shown}` failed (exit {done.returncode}); is Maven Central reachable? "
            f"It said:\n{_maven_said(done.stdout + done.stderr)}"
        )
    log.info("kafka_assembled", seconds=round(time.monotonic() - begun, 1))
    return CLASSPATH


def _maven_said(output: str) -> str:
    """Maven's error lines, without colour codes and its advice on re-running it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output).split("[ERROR] To see the full stack trace")[0]
    lines = [line for line in text.splitlines() if line.strip() not in {"", "[ERROR]"}]
    return "\n".join(lines[-12:])


def _classpath_fresh() -> bool:
    if not CLASSPATH.is_file() or CLASSPATH.stat().st_mtime < POM.stat().st_mtime:
        return False
    return all(Path(jar).is_file() for jar in _jars_of(CLASSPATH))  # ~/.m2 may have been cleaned


def start(settings: Settings) -> str:
    """Start the broker unless ours runs already; return its bootstrap address once it answers."""
    data = settings.broker_data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    with _lock(data):
        pid, _ = _our_pid(settings)
        launched = pid is None
        if pid is None:
            for port in (settings.broker_port, settings.controller_port):
                if _port_taken(port):
                    raise BrokerError(
                        f"port {port} on 127.0.0.1 is held by another process, not by the broker "
                        f"of {data}; stop that process (`ss -ltnp 'sport = :{port}'` names it) or "
                        "set INTELSHARE_BROKER_PORT and INTELSHARE_CONTROLLER_PORT"
                    )
            pid = _launch(settings, data)
        return _wait_until_answering(settings, pid, launched)


def _wait_until_answering(settings: Settings, pid: int, launched: bool) -> str:
    bootstrap = f"127.0.0.1:{settings.broker_port}"
    begun = time.monotonic()
    while time.monotonic() - begun < settings.broker_start_timeout:
        if _port_taken(settings.broker_port) and _answers(bootstrap, 2.0):
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


def _launch(settings: Settings, data: Path) -> int:
    """Write the config, format storage on first run, and start the JVM detached."""
    logs, kraft = data / "logs", data / "kraft-logs"
    logs.mkdir(exist_ok=True)
    config = data / "server.properties"
    ports = {"port": settings.broker_port, "controller": settings.controller_port}
    config.write_text(_CONFIG.format(logs=kraft, **ports))
    java, classpath = _java(), os.pathsep.join(_jars_of(assemble(settings)))
    tool = [f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}"]
    tool += [f"-Dkafka.logs.dir={logs}", "-Djava.awt.headless=true", "-cp", classpath]
    _format_once(java, tool, config, kraft)
    # The heap starts at 1/200 of RAM (never above -Xmx) and grows to broker_heap at most.
    jvm = [java, f"-Xmx{settings.broker_heap}", "-XX:InitialRAMPercentage=0.5", "-XX:+UseG1GC"]
    jvm += ["-XX:MaxGCPauseMillis=20", "-XX:+ExplicitGCInvokesConcurrent"]
    jvm += ["-XX:+ExitOnOutOfMemoryError"]
    with (logs / "broker.out").open("ab") as out:
        process = subprocess.Popen(
            [*jvm, *tool, "kafka.Kafka", str(config)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=data,
        )  # fmt: skip
    _pid_file(settings).write_text(f"{process.pid}\n")
    log.info("broker_launched", pid=process.pid, data=str(data), heap=settings.broker_heap)
    return process.pid


def _format_once(java: str, tool: list[str], config: Path, kraft: Path) -> None:
    """Format KRaft storage as a one-voter quorum, unless it was formatted before."""
    if (kraft / "meta.properties").is_file():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    command = [java, "-Xmx256m", *tool, "kafka.tools.StorageTool", "format", "-t", cluster_id]
    command += ["-c", str(config), "--standalone"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError("formatting the broker's storage took over 120 s") from exc
    if done.returncode != 0:
        output = _last_lines(done.stdout + done.stderr, 15)
        raise BrokerError(f"formatting the broker's storage in {kraft} failed:\n{output}")
    log.info("broker_storage_formatted", cluster_id=cluster_id, path=str(kraft))


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop our broker cleanly (SIGTERM, then SIGKILL after ``timeout``); False if none ran."""
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
    """Whether our broker runs and answers; a stale pid file counts as not running."""
    bootstrap = f"127.0.0.1:{settings.broker_port}"
    pid, detail = _our_pid(settings)
    if pid is None:
        if not detail and _port_taken(settings.broker_port):
            detail = f"port {settings.broker_port} is held by another process"
        return BrokerStatus(False, None, bootstrap, False, detail)
    answering = _answers(bootstrap, 3.0)
    if not answering:
        detail = f"not answering; see {settings.broker_data_dir / 'logs' / 'server.log'}"
    return BrokerStatus(True, pid, bootstrap, answering, detail)


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
    config = str(settings.broker_data_dir.resolve() / "server.properties").encode()
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


def _answers(bootstrap: str, timeout: float) -> bool:
    """A metadata round trip, not just an open port."""
    try:
        with admin_client(Settings(bootstrap_servers=bootstrap, request_timeout=timeout)) as admin:
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


def _jars_of(classpath: Path) -> list[str]:
    return classpath.read_text().strip().split(os.pathsep)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        raise BrokerError("java is not on PATH (or JAVA_HOME); install OpenJDK 17 or newer")
    return java


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
