"""What the local Kafka broker runs from, prepared before each start: its classpath, assembled
from Maven Central; its ``server.properties``; its KRaft storage, formatted on first run; and, for
the secure broker, the admin's password and SCRAM credential.

``ops/kafka/pom.xml`` pins Kafka; Maven writes its runtime classpath once. The broker is one
KRaft process (combined broker and controller) on 127.0.0.1. The secure broker has a folder of
its own (the plaintext one's name with ``-secure``): clients authenticate with SASL/SCRAM-SHA-512
and the KRaft StandardAuthorizer allows only what ACLs grant. Its admin password is generated on
first start, kept in ``$INTELSHARE_HOME/secrets/admin.password`` (mode 0600) and given to the
storage format as the first SCRAM credential; the broker uses it to talk to itself, so it is
written into the broker's config file, which is also mode 0600. What the config says is
:mod:`ops.broker_properties`. Starting, stopping and watching the process is :mod:`ops.broker`;
the nodes of the local 3-node cluster (:mod:`ops.cluster`) get their config from
:mod:`ops.broker_properties` too and their storage from :func:`prepare_node`.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import structlog

from ops.broker_properties import (
    ADMIN_USER,
    TlsListeners,
    node_keystore,
    scram_options,
    secure_properties,
    server_properties,
)
from streams.core.certs import CertStore
from streams.core.keyfiles import write_private
from streams.errors import BrokerError
from streams.settings import PROJECT_ROOT, Settings

__all__ = [
    "ADMIN_USER",
    "CLASSPATH",
    "KAFKA_DIR",
    "POM",
    "admin_password",
    "admin_password_file",
    "assemble",
    "assemble_tools",
    "config_file",
    "is_tls",
    "java_path",
    "kafka_uuid",
    "plaintext_settings",
    "prepare",
    "prepare_node",
    "secure_settings",
]

log = structlog.get_logger(__name__)

KAFKA_DIR = PROJECT_ROOT / "ops" / "kafka"
POM = KAFKA_DIR / "pom.xml"
"""The Maven project that pins Kafka and its logging backend."""
CLASSPATH = KAFKA_DIR / "target" / "classpath.txt"
"""Where Maven writes the broker's runtime classpath (git-ignored)."""
TOOLS_CLASSPATH = KAFKA_DIR / "target" / "tools-classpath.txt"
"""Where Maven writes the classpath of Kafka's command-line tools, for ops/bench."""


def assemble(settings: Settings) -> Path:
    """The classpath file, built with Maven when missing, older than the pom, or stale."""
    return _assembled(CLASSPATH)


def assemble_tools(settings: Settings) -> list[str]:
    """The jars of Kafka's command-line tools (the pom's ``tools`` profile), assembled as the
    broker's classpath is; for ``java -cp`` of ``org.apache.kafka.tools.*``."""
    return _jars_of(_assembled(TOOLS_CLASSPATH, "tools"))


def _assembled(classpath: Path, profile: str | None = None) -> Path:
    if _classpath_fresh(classpath):
        return classpath
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH; install Maven 3 to assemble Kafka")
    command = [mvn, "-q", "-B", "-f", str(POM), *(["-P", profile] if profile else [])]
    command += ["dependency:build-classpath", f"-Dmdep.outputFile={classpath}"]
    shown = " ".join(["mvn", *command[1:]])
    log.info("kafka_assembling", command=shown)
    begun = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"`{shown}` took over 900 s; is Maven Central reachable?") from exc
    if done.returncode != 0 or not classpath.is_file():
        raise BrokerError(
            f"`{shown}` failed (exit {done.returncode}); is Maven Central reachable? "
            f"It said:\n{_maven_said(done.stdout + done.stderr)}"
        )
    log.info("kafka_assembled", seconds=round(time.monotonic() - begun, 1))
    return classpath


def _maven_said(output: str) -> str:
    """Maven's error lines, without colour codes and its advice on re-running it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output).split("[ERROR] To see the full stack trace")[0]
    lines = [line for line in text.splitlines() if line.strip() not in {"", "[ERROR]"}]
    return "\n".join(lines[-12:])


def _classpath_fresh(classpath: Path) -> bool:
    if not classpath.is_file() or classpath.stat().st_mtime < POM.stat().st_mtime:
        return False
    return all(Path(jar).is_file() for jar in _jars_of(classpath))  # ~/.m2 may have been cleaned


def admin_password_file(settings: Settings) -> Path:
    """Where the secure broker's admin password is kept."""
    return settings.home / "secrets" / "admin.password"


def secure_settings(settings: Settings, tls: bool | None = None) -> Settings:
    """``settings`` for the secure broker: its own folder, and the admin's SCRAM credential;
    with ``tls`` (by default: if the broker's last config had TLS), over TLS, trusting the
    exchange's CA."""
    data = settings.broker_data_dir
    folder = data.with_name(f"{data.name}-secure")
    if tls is None:
        tls = is_tls(folder)
    return dataclasses.replace(
        settings,
        broker_dir=folder,
        security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
        sasl_username=ADMIN_USER,
        sasl_password="",
        sasl_password_file=admin_password_file(settings),
        ssl_cafile=CertStore(settings.certs_dir).ca_cert if tls else settings.ssl_cafile,
    )


def is_tls(data: Path) -> bool:
    """Whether the broker of ``data`` was last configured with TLS listeners."""
    try:
        return "SASL_SSL://" in config_file(data).read_text(encoding="utf-8")
    except OSError:
        return False


def plaintext_settings(settings: Settings) -> Settings:
    """``settings`` for the plaintext broker, whatever protocol the clients were given."""
    return dataclasses.replace(settings, security_protocol="PLAINTEXT")


def config_file(data: Path) -> Path:
    """The ``server.properties`` of the broker that runs from ``data``."""
    return data / "server.properties"


def prepare(settings: Settings, data: Path, *, secure: bool, tls: bool = False) -> list[str]:
    """Write the config, assemble the classpath and format storage on first run; return the
    command that runs the broker from ``data`` (its logs go to ``data / "logs"``); with
    ``tls``, from the certificates of node 1 in ``Settings.certs_dir``."""
    kraft = data / "kraft-logs"
    (data / "logs").mkdir(exist_ok=True)
    config = config_file(data)
    options = ["--standalone"]
    ports = (settings.broker_port, settings.controller_port)
    quorum = f"127.0.0.1:{settings.controller_port}"
    if secure:
        password = admin_password(settings, kraft)
        listeners = _tls_listeners(settings, data) if tls else None
        text = secure_properties(1, ports, quorum, kraft, password, tls=listeners)
        write_private(config, text.encode(), replace=True)
        options += scram_options(password)
    else:
        config.write_text(server_properties(1, ports, quorum, kraft))
    return _runnable(settings, data, kafka_uuid(), options)


def _tls_listeners(settings: Settings, data: Path) -> TlsListeners:
    """The single TLS broker's: node 1's certificate, the settings' host and ports."""
    store = CertStore(settings.certs_dir)
    keystore = node_keystore(store, 1, data)
    return TlsListeners(
        settings.mtls_port, keystore, store.ca_cert, settings.broker_host,
        settings.broker_loopback_port,
    )  # fmt: skip


def prepare_node(
    settings: Settings,
    data: Path,
    properties: str,
    cluster_id: str,
    initial_controllers: str,
    more: Sequence[str] = (),
) -> list[str]:
    """Write ``properties`` as the config of one node of a cluster (mode 0600: a secure one
    holds the admin's password), format its storage on first run as a member of the dynamic
    quorum ``initial_controllers`` (``id@host:port:directory``, comma-separated, the same for
    every node) with ``more`` options (:func:`scram_options`), and return the command that
    runs it."""
    (data / "logs").mkdir(exist_ok=True)
    write_private(config_file(data), properties.encode(), replace=True)
    options = ["--initial-controllers", initial_controllers, *more]
    return _runnable(settings, data, cluster_id, options)


def _runnable(settings: Settings, data: Path, cluster_id: str, options: list[str]) -> list[str]:
    """Assemble the classpath and format ``data``'s storage unless it was (with ``options``);
    return the command that runs the broker from ``data``."""
    logs, kraft, config = data / "logs", data / "kraft-logs", config_file(data)
    java, classpath = java_path(), os.pathsep.join(_jars_of(assemble(settings)))
    tool = [f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}"]
    tool += [f"-Dkafka.logs.dir={logs}", "-Djava.awt.headless=true", "-cp", classpath]
    _format_once(java, tool, config, kraft, [*options, "-t", cluster_id])
    # The heap starts at 1/200 of RAM (never above -Xmx) and grows to broker_heap at most.
    jvm = [java, f"-Xmx{settings.broker_heap}", "-XX:InitialRAMPercentage=0.5", "-XX:+UseG1GC"]
    jvm += ["-XX:MaxGCPauseMillis=20", "-XX:+ExplicitGCInvokesConcurrent"]
    jvm += ["-XX:+ExitOnOutOfMemoryError"]
    return [*jvm, *tool, "kafka.Kafka", str(config)]


def admin_password(settings: Settings, kraft: Path) -> str:
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
    write_private(path, (password + "\n").encode(), replace=True)
    log.info("broker_admin_password_written", path=str(path))
    return password


def kafka_uuid() -> str:
    """A random id as Kafka writes its ``Uuid`` (cluster and directory ids)."""
    found = "-"
    while found.startswith("-"):  # as Kafka's Uuid: a leading '-' reads as an option
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return found


def _format_once(java: str, tool: list[str], config: Path, kraft: Path, options: list[str]) -> None:
    """Format KRaft storage with ``options`` (the quorum, the cluster id, for the secure broker
    its admin's SCRAM credential), unless it was formatted before."""
    if (kraft / "meta.properties").is_file():
        return
    quick = ["-Xmx256m", "-XX:TieredStopAtLevel=1"]  # a short-lived tool: start fast
    command = [java, *quick, *tool, "kafka.tools.StorageTool", "format"]
    command += ["-c", str(config), *options]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError("formatting the broker's storage took over 120 s") from exc
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"formatting the broker's storage in {kraft} failed:\n{output}")
    shown = [option for option in options if "password=" not in option]
    log.info("broker_storage_formatted", options=shown, path=str(kraft))


def _jars_of(classpath: Path) -> list[str]:
    return classpath.read_text().strip().split(os.pathsep)


def java_path() -> str:
    """The ``java`` of ``JAVA_HOME``, or the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        raise BrokerError("java is not on PATH (or JAVA_HOME); install OpenJDK 17 or newer")
    return java
