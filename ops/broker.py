"""The local Apache Kafka broker: assembled from Maven Central, run as one KRaft process.

``ops/kafka/pom.xml`` pins Kafka; Maven writes its runtime classpath once. The broker runs as
``java -cp CLASSPATH kafka.Kafka server.properties`` (combined broker and controller) on
127.0.0.1, with a bounded heap and its data, logs and pid file in ``Settings.broker_data_dir``.
Start is idempotent and returns only once the broker answers a metadata request.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import structlog

from streams.errors import BrokerError, IntelshareError
from streams.settings import PROJECT_ROOT, Settings

__all__ = ["BrokerStatus", "assemble", "start", "status", "stop"]

log = structlog.get_logger(__name__)

KAFKA_DIR = PROJECT_ROOT / "ops" / "kafka"
POM = KAFKA_DIR / "pom.xml"
CLASSPATH = KAFKA_DIR / "target" / "classpath.txt"

_CONFIG = """\
# Written by intelshare (ops/broker.py) at each start; edit the settings, not this file.
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
transaction.partition.verification.enable=true
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
    """Anything else worth saying (a stale pid file, the data folder)."""


def _bootstrap(settings: Settings) -> str:
    return f"127.0.0.1:{settings.broker_port}"


def assemble(settings: Settings) -> list[str]:
    """The broker's classpath, built with Maven when missing or older than the pom."""
    if not CLASSPATH.is_file() or CLASSPATH.stat().st_mtime < POM.stat().st_mtime:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven (mvn) is not on PATH; install Maven 3 to assemble Kafka")
        command = [mvn, "-q", "-B", "-f", str(POM), "dependency:build-classpath"]
        command.append(f"-Dmdep.outputFile={CLASSPATH}")
        log.info("assembling_kafka", pom=str(POM))
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0 or not CLASSPATH.is_file():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise BrokerError(
                f"`{' '.join(command)}` failed (exit {done.returncode}); is Maven Central "
                f"reachable?\n{tail}"
            )
    return CLASSPATH.read_text().strip().split(os.pathsep)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerError("java is not on PATH; install OpenJDK 17 or newer")
    return java


def _pid_file(settings: Settings) -> Path:
    return settings.broker_data_dir / "broker.pid"


def _our_pid(settings: Settings) -> tuple[int | None, str]:
    """The pid of a live broker we started, or None with the reason."""
    path = _pid_file(settings)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None, ""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None, f"stale pid file {path}"
    config = str(settings.broker_data_dir.resolve() / "server.properties").encode()
    if b"kafka.Kafka" not in cmdline or config not in cmdline:
        return None, f"pid {pid} in {path} is not our broker"
    return pid, ""


def _answers(settings: Settings, timeout: float) -> bool:
    from streams.clients import admin_client

    probe = Settings(bootstrap_servers=_bootstrap(settings), request_timeout=timeout)
    try:
        with admin_client(probe) as admin:
            admin.describe_cluster()
    except (IntelshareError, OSError, Exception):  # any failure means: not answering yet
        return False
    return True


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def status(settings: Settings) -> BrokerStatus:
    """Whether our broker runs and answers."""
    pid, detail = _our_pid(settings)
    answering = pid is not None and _answers(settings, 3.0)
    return BrokerStatus(pid is not None, pid, _bootstrap(settings), answering, detail)


def _format(java: str, classpath: list[str], config: Path, logs: Path) -> None:
    if (logs / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    command = [java, "-cp", os.pathsep.join(classpath), "kafka.tools.StorageTool", "format"]
    command += ["-t", cluster_id, "-c", str(config), "--standalone"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise BrokerError(f"formatting broker storage failed: {done.stdout}{done.stderr}"[-2000:])
    log.info("storage_formatted", cluster_id=cluster_id)


def start(settings: Settings) -> str:
    """Start the broker unless it runs already; return its bootstrap address once it answers."""
    bootstrap = _bootstrap(settings)
    pid, _ = _our_pid(settings)
    if pid is None:
        for port in (settings.broker_port, settings.controller_port):
            if _port_taken(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is taken by another process; stop it or set "
                    "INTELSHARE_BROKER_PORT and INTELSHARE_CONTROLLER_PORT"
                )
        pid = _launch(settings)
    deadline = time.monotonic() + settings.broker_start_timeout
    while time.monotonic() < deadline:
        if _answers(settings, 2.0):
            log.info("broker_ready", bootstrap=bootstrap, pid=pid)
            return bootstrap
        if not Path(f"/proc/{pid}").exists():
            raise BrokerError(f"the broker exited while starting:\n{_log_tail(settings)}")
        time.sleep(0.3)
    raise BrokerError(
        f"the broker did not answer within {settings.broker_start_timeout:.0f} s "
        f"(INTELSHARE_BROKER_START_TIMEOUT):\n{_log_tail(settings)}"
    )


def _launch(settings: Settings) -> int:
    data = settings.broker_data_dir.resolve()
    logs = data / "kraft-logs"
    (data / "logs").mkdir(parents=True, exist_ok=True)
    config = data / "server.properties"
    config.write_text(
        _CONFIG.format(port=settings.broker_port, controller=settings.controller_port, logs=logs)
    )
    java, classpath = _java(), assemble(settings)
    _format(java, classpath, config, logs)
    command = [
        java,
        f"-Xmx{settings.broker_heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={data / 'logs'}",
        "-cp",
        os.pathsep.join(classpath),
        "kafka.Kafka",
        str(config),
    ]
    with (data / "logs" / "broker.out").open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=data,
        )  # fmt: skip
    _pid_file(settings).write_text(f"{process.pid}\n")
    log.info("broker_launched", pid=process.pid, data=str(data))
    return process.pid


def _log_tail(settings: Settings, lines: int = 25) -> str:
    logs = settings.broker_data_dir / "logs"
    text = ""
    for name in ("broker.out", "server.log"):
        try:
            text += (logs / name).read_text(errors="replace")
        except OSError:
            continue
    return "\n".join(text.strip().splitlines()[-lines:]) or f"(no log in {logs})"


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop our broker cleanly (SIGTERM, then SIGKILL after ``timeout``); False if none ran."""
    pid, _ = _our_pid(settings)
    if pid is None:
        _pid_file(settings).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        log.warning("broker_killed", pid=pid)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        _reap(pid)
    _pid_file(settings).unlink(missing_ok=True)
    log.info("broker_stopped", pid=pid)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
