"""The local Apache Kafka broker: assembled from Maven Central, run as one KRaft process.

``ops/kafka/pom.xml`` pins Kafka; Maven writes its runtime classpath once. The broker runs as
``java -cp CLASSPATH kafka.Kafka server.properties`` (combined broker and controller) on
127.0.0.1, with a bounded heap and its data, logs and pid file in ``Settings.broker_data_dir``.
Start is idempotent and returns only once the broker answers a metadata request.

``start(settings, secure=True)`` runs a secure broker from its own folder (the plaintext one's
name with ``-secure``): clients authenticate with SASL/SCRAM-SHA-512 and the KRaft
StandardAuthorizer allows only what ACLs grant. Its admin password is generated on first start,
kept in ``$INTELSHARE_HOME/secrets/admin.password`` (mode 0600) and given to the storage format
as the first SCRAM credential; the broker uses it to talk to itself, so it is written into the
broker's config file, which is also mode 0600.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import os
import re
import secrets
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

from streams.errors import BrokerError
from streams.kafka.clients import admin_client
from streams.settings import PROJECT_ROOT, Settings

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

KAFKA_DIR = PROJECT_ROOT / "ops" / "kafka"
POM = KAFKA_DIR / "pom.xml"
"""The Maven project that pins Kafka and its logging backend."""
CLASSPATH = KAFKA_DIR / "target" / "classpath.txt"
"""Where Maven writes the broker's runtime classpath (git-ignored)."""
ADMIN_USER = "admin"
"""The secure broker's super user: it creates the other users and their ACLs."""

_HEAD = """\
# Written by intelshare (ops/broker.py) at each start; change the settings, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
"""
_PLAINTEXT = """\
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"""
_SECURE = """\
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\\
  org.apache.kafka.common.security.scram.ScramLoginModule required \\
  username="{admin}" password="{password}";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=\\
  org.apache.kafka.common.security.plain.PlainLoginModule required \\
  username="{admin}" password="{password}" user_{admin}="{password}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{admin}
"""
_CONFIG = """\
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


def admin_password_file(settings: Settings) -> Path:
    """Where the secure broker's admin password is kept."""
    return settings.home / "secrets" / "admin.password"


def secure_settings(settings: Settings) -> Settings:
    """``settings`` for the secure broker: its own folder, and the admin's SCRAM credential."""
    data = settings.broker_data_dir
    return dataclasses.replace(
        settings,
        broker_dir=data.with_name(f"{data.name}-secure"),
        security_protocol="SASL_PLAINTEXT",
        sasl_username=ADMIN_USER,
        sasl_password="",
        sasl_password_file=admin_password_file(settings),
    )


def _plaintext_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, security_protocol="PLAINTEXT")


def start(settings: Settings, *, secure: bool = False) -> str:
    """Start the broker unless ours runs already; return its bootstrap address once it answers."""
    settings = secure_settings(settings) if secure else _plaintext_settings(settings)
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
            pid = _launch(settings, data, secure=secure)
        return _wait_until_answering(settings, pid, launched)


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


def _launch(settings: Settings, data: Path, *, secure: bool) -> int:
    """Write the config, format storage on first run, and start the JVM detached."""
    logs, kraft = data / "logs", data / "kraft-logs"
    logs.mkdir(exist_ok=True)
    config = data / "server.properties"
    ports = {"port": settings.broker_port, "controller": settings.controller_port}
    scram = None
    if secure:
        password = _admin_password(settings, kraft)
        text = _HEAD + _SECURE + _CONFIG
        _write_private(
            config, text.format(logs=kraft, admin=ADMIN_USER, password=password, **ports)
        )
        scram = f"SCRAM-SHA-512=[name={ADMIN_USER},password={password}]"
    else:
        config.write_text((_HEAD + _PLAINTEXT + _CONFIG).format(logs=kraft, **ports))
    java, classpath = _java(), os.pathsep.join(_jars_of(assemble(settings)))
    tool = [f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}"]
    tool += [f"-Dkafka.logs.dir={logs}", "-Djava.awt.headless=true", "-cp", classpath]
    _format_once(java, tool, config, kraft, scram)
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


def _admin_password(settings: Settings, kraft: Path) -> str:
    """The admin password: read from its file, or generated before the storage is formatted."""
    path = admin_password_file(settings)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    if (kraft / "meta.properties").is_file():
        raise BrokerError(
            f"the secure broker in {kraft.parent} was formatted with an admin password that "
            f"{path} no longer holds; restore that file, or remove {kraft.parent} to start afresh"
        )
    password = secrets.token_urlsafe(32)
    _write_private(path, password + "\n")
    log.info("broker_admin_password_written", path=str(path))
    return password


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (the folder too, if created)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _format_once(
    java: str, tool: list[str], config: Path, kraft: Path, scram: str | None = None
) -> None:
    """Format KRaft storage as a one-voter quorum, unless it was formatted before.

    ``scram`` is the secure broker's first SCRAM credential (the admin's).
    """
    if (kraft / "meta.properties").is_file():
        return
    cluster_id = "-"
    while cluster_id.startswith("-"):  # as Kafka's Uuid: a leading '-' reads as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    command = [java, "-Xmx256m", *tool, "kafka.tools.StorageTool", "format", "-t", cluster_id]
    command += ["-c", str(config), "--standalone"]
    if scram is not None:
        command += ["--add-scram", scram]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError("formatting the broker's storage took over 120 s") from exc
    if done.returncode != 0:
        output = _last_lines(done.stdout + done.stderr, 15)
        raise BrokerError(f"formatting the broker's storage in {kraft} failed:\n{output}")
    log.info("broker_storage_formatted", cluster_id=cluster_id, path=str(kraft))


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop our broker, plaintext or secure, cleanly (SIGTERM, then SIGKILL after ``timeout``).

    False if neither ran.
    """
    stopped = _stop_one(_plaintext_settings(settings), timeout)
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
        return _status_of(secure, "secure")
    return _status_of(_plaintext_settings(settings), "")


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
