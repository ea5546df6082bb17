"""One typed settings object, built once from ``INTELSHARE_*`` variables or ``intelshare.toml``.

Precedence, highest first: the environment, then ``intelshare.toml`` (in the working directory,
or the file named by ``INTELSHARE_CONFIG``), then the defaults below. Nothing here is read at
import time; callers build a :class:`Settings` and pass it in.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streams.errors import ConfigError
from streams.i18n import msg

__all__ = ["MAX_RETENTION_DAYS", "PROJECT_ROOT", "PROTOCOLS", "SASL_MECHANISM", "Settings"]

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
"""The values of ``INTELSHARE_SECURITY_PROTOCOL``: on a network, ``SASL_SSL`` or ``SSL``."""

SASL_MECHANISM = "SCRAM-SHA-512"
"""The only SASL mechanism intelshare's clients and its secure broker use."""

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout that holds ``schemas/`` and ``ops/`` (intelshare is installed editable)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything intelshare can be configured with."""

    bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka bootstrap address; ``KAFKA_BOOTSTRAP_SERVERS`` overrides it."""
    home: Path = Path(".intelshare")
    """Local state and keys (``INTELSHARE_HOME``)."""
    topic_prefix: str = ""
    """Prepended to every topic name; empty in production, unique per test."""
    schemas_dir: Path = PROJECT_ROOT / "schemas"
    """Where the Avro schemas live."""
    broker_port: int = 9092
    """Client port of the local broker started by ``intelshare broker start``."""
    controller_port: int = 9093
    """KRaft controller port of the local broker."""
    broker_heap: str = "512m"
    """Maximum Java heap of the local broker."""
    broker_dir: Path | None = None
    """Data and logs of the local broker; default ``$INTELSHARE_HOME/broker``."""
    broker_start_timeout: float = 90.0
    """Seconds ``broker start`` waits for a metadata round trip."""
    broker_wait: float = 60.0
    """Seconds ``intelshare worker`` waits, with back-off, for the broker to answer before it
    gives up with exit 2 (``INTELSHARE_BROKER_WAIT``; 0: look once, do not wait)."""
    erase_wait: float = 60.0
    """Seconds ``intelshare erase`` waits for each agent to process the reports on their way
    before it refuses (``INTELSHARE_ERASE_WAIT``; 0: look once; see streams/core/purge.py)."""
    max_report_bytes: int = 256 * 1024
    """Largest encoded report accepted; larger ones are rejected, never truncated."""
    request_timeout: float = 15.0
    """Seconds a client waits for the broker before giving up with a clear error."""
    worker_agents: str = "intake,enrich,route,sequencer"
    """The agents one worker process runs; split them over processes to use more cores
    (``INTELSHARE_WORKER_AGENTS``; the older name ``INTELSHARE_WORKER_STEPS`` is read too)."""
    worker_instance: int = 1
    """This worker's instance number of each agent it runs (``--instance``): instances of one
    agent on several machines share its partitions, each with its own identity."""
    web_host: str = "127.0.0.1"
    """Address of the worker's web views; only a container should widen it."""
    web_port: int = 6066
    """Port of the worker's web views."""
    web_allow_http: bool = False
    """Let the worker serve plain HTTP on a non-loopback ``web_host`` without a certificate
    (``INTELSHARE_WEB_ALLOW_HTTP``): only for a container whose port is published on its
    host's 127.0.0.1 (docker-compose.yml). Otherwise such an address needs
    ``INTELSHARE_HTTPS_CERTFILE`` and ``INTELSHARE_HTTPS_KEYFILE``."""
    dedup_window_days: int = 30
    """How long an event id is remembered: a resubmission within it is dropped."""
    retention_intermediate_days: int = 7
    """Days ``intel.submissions``, ``intel.validated`` and ``intel.enriched`` keep a report
    (``INTELSHARE_RETENTION_INTERMEDIATE_DAYS``): they hold reports in clear between the agents,
    so they keep them only as long as a stopped worker may need to catch up (at most 36500)."""
    retention_deadletter_days: int = 14
    """Days ``intel.deadletter`` keeps a rejected message: its replay window
    (``INTELSHARE_RETENTION_DEADLETTER_DAYS``); ``deadletter replay`` can resubmit a dead
    letter only within it (see agents/deadletter.py for why kept short rather than encrypted)."""
    retention_feed_days: int = 365
    """Days an agency's feed ``intel.feed.<agency>`` keeps its encrypted disclosures
    (``INTELSHARE_RETENTION_FEED_DAYS``)."""
    """How long an event id is remembered: a resubmission within it is dropped."""
    commit_seconds: float = 0.1
    """Seconds between an agent's transactions (``INTELSHARE_COMMIT_SECONDS``): read_committed
    readers see an agent's outputs when its transaction commits, so each of the four agents
    adds up to this much latency; shorter means more transactions under load."""
    checkpoint_seconds: float = 10.0
    """At most this long between a new audit record and the checkpoint that covers it."""
    checkpoint_records: int = 1000
    """Or a checkpoint after this many new audit records, whichever comes first."""
    log_level: str = "warning"
    """structlog level: debug, info, warning or error (the worker logs at info)."""
    security_protocol: str = "PLAINTEXT"
    """``PLAINTEXT``, ``SASL_PLAINTEXT`` for a secure broker (SCRAM-SHA-512), ``SASL_SSL`` for
    SCRAM over TLS, or ``SSL`` for a client certificate (mutual TLS)."""
    sasl_username: str = ""
    """The SCRAM user of every client (``INTELSHARE_SASL_USERNAME``)."""
    sasl_password: str = dataclasses.field(default="", repr=False)
    """Its password; prefer ``sasl_password_file``. Never shown in a repr."""
    sasl_password_file: Path | None = None
    """A file holding the password (e.g. one written by ``intelshare users add``)."""
    ssl_cafile: Path | None = None
    """The CA certificate (PEM) that clients trust the broker's certificate by, for
    ``SASL_SSL`` and ``SSL`` (``INTELSHARE_SSL_CAFILE``; ``intelshare certs init`` writes
    ``$INTELSHARE_HOME/certs/ca.pem``, or give your own CA's)."""
    ssl_certfile: Path | None = None
    """This client's certificate (PEM, chain), for ``SSL``: its common name is the Kafka user
    (``INTELSHARE_SSL_CERTFILE``; ``intelshare certs issue --user NAME`` writes one)."""
    ssl_keyfile: Path | None = None
    """The private key of ``ssl_certfile`` (``INTELSHARE_SSL_KEYFILE``; mode 0600)."""
    https_certfile: Path | None = None
    """Certificate (PEM chain) the oversight page and TAXII server serve HTTPS with, unless
    ``--tls-cert`` is given, and the worker's status page (``INTELSHARE_HTTPS_CERTFILE``)."""
    https_keyfile: Path | None = None
    """Its private key (``INTELSHARE_HTTPS_KEYFILE``)."""
    broker_host: str = "127.0.0.1"
    """The name the TLS broker advertises to clients (``INTELSHARE_BROKER_HOST``): one of the
    host names of its certificate. Other than 127.0.0.1 it listens on every address."""
    broker_mtls_port: int | None = None
    """Port of the TLS broker's mutual-TLS listener (certificate users); default
    ``broker_port + 2``."""
    broker_loopback_port: int | None = None
    """A SASL_PLAINTEXT listener of the TLS broker on 127.0.0.1 only, for tools on the
    broker's own machine (``INTELSHARE_BROKER_LOOPBACK_PORT``); none by default."""
    oversight_db: str = dataclasses.field(default="", repr=False)
    """The oversight index's database (``INTELSHARE_OVERSIGHT_DB``): unset, a SQLite file per
    log under ``$INTELSHARE_HOME/oversight``; a ``postgresql://USER:PASSWORD@HOST:PORT/DB``
    URL, a schema per log in that database, for an index several overseers share. Never shown
    in a repr: the URL may hold a password."""
    unit_key_file: Path | None = None
    """The unit's Ed25519 submission key, which ``intelshare submit`` signs every report with
    on a secure broker (``INTELSHARE_UNIT_KEY_FILE``); default
    ``$INTELSHARE_HOME/secrets/users/<INTELSHARE_SASL_USERNAME>.sign.key``."""

    @property
    def broker_data_dir(self) -> Path:
        """Folder of the local broker's data, logs and pid file."""
        return self.broker_dir if self.broker_dir is not None else self.home / "broker"

    @property
    def certs_dir(self) -> Path:
        """The CA and the certificates ``intelshare certs`` issues (``$INTELSHARE_HOME/certs``)."""
        return self.home / "certs"

    @property
    def mtls_port(self) -> int:
        """The TLS broker's mutual-TLS port."""
        return self.broker_mtls_port or self.broker_port + 2

    @property
    def users_dir(self) -> Path:
        """Where ``users add`` writes each user's password and submission key (0600 files)."""
        return self.home / "secrets" / "users"

    @property
    def unit_key_path(self) -> Path:
        """The submission key ``submit`` signs with on a secure broker."""
        if self.unit_key_file is not None:
            return self.unit_key_file
        return self.users_dir / f"{self.sasl_username}.sign.key"

    def kafka_security(self) -> dict[str, Any]:
        """Security keyword arguments of kafka-python clients (``librdkafka_config`` in
        streams.kafka.clients maps them for confluent-kafka). With TLS, the files are named
        here and read by ``streams.kafka.tls``, which checks them before any connection."""
        protocol = self.security_protocol
        if protocol not in PROTOCOLS:
            raise ConfigError(
                msg(
                    "INTELSHARE_SECURITY_PROTOCOL={protocol!r}: use one of {protocols}",
                    protocol=protocol,
                    protocols=", ".join(PROTOCOLS),
                )
            )
        security: dict[str, Any] = {"security_protocol": protocol}
        if protocol.startswith("SASL_"):
            if not self.sasl_username:
                raise ConfigError(
                    msg("{protocol} needs INTELSHARE_SASL_USERNAME", protocol=protocol)
                )
            security |= {
                "sasl_mechanism": SASL_MECHANISM,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self._sasl_secret(),
            }
        if protocol.endswith("SSL"):
            if self.ssl_cafile is None:
                raise ConfigError(
                    msg(
                        "{protocol} needs INTELSHARE_SSL_CAFILE: the CA certificate that signed "
                        "the broker's (`intelshare certs init` writes "
                        "$INTELSHARE_HOME/certs/ca.pem)",
                        protocol=protocol,
                    )
                )
            if protocol == "SSL" and (self.ssl_certfile is None or self.ssl_keyfile is None):
                raise ConfigError(
                    msg(
                        "SSL needs INTELSHARE_SSL_CERTFILE and INTELSHARE_SSL_KEYFILE: the user's "
                        "certificate and key (`intelshare certs issue --user NAME` writes them)"
                    )
                )
            security |= {
                "ssl_cafile": str(self.ssl_cafile),
                "ssl_certfile": str(self.ssl_certfile) if self.ssl_certfile else None,
                "ssl_keyfile": str(self.ssl_keyfile) if self.ssl_keyfile else None,
                "ssl_check_hostname": True,
            }
        return security

    def _sasl_secret(self) -> str:
        if self.sasl_password:
            return self.sasl_password
        if self.sasl_password_file is None:
            raise ConfigError(
                msg(
                    "SASL_PLAINTEXT needs INTELSHARE_SASL_PASSWORD or INTELSHARE_SASL_PASSWORD_FILE"
                )
            )
        try:
            secret = self.sasl_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                msg(
                    "cannot read INTELSHARE_SASL_PASSWORD_FILE {sasl_password_file}: {strerror}",
                    sasl_password_file=self.sasl_password_file,
                    strerror=exc.strerror,
                )
            ) from exc
        if not secret:
            raise ConfigError(
                msg(
                    "INTELSHARE_SASL_PASSWORD_FILE {sasl_password_file} is empty",
                    sasl_password_file=self.sasl_password_file,
                )
            )
        return secret

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        config_file: Path | None = None,
    ) -> Settings:
        """Build settings from a TOML file and the environment (the environment wins)."""
        env = os.environ if environ is None else environ
        path = config_file or Path(env.get("INTELSHARE_CONFIG", "intelshare.toml"))
        values: dict[str, Any] = {}
        if path.is_file():
            try:
                values.update(tomllib.loads(path.read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(
                    msg("cannot read {path}: {exc}; fix or remove the file", path=path, exc=exc)
                ) from exc
        for field in dataclasses.fields(cls):
            key = f"INTELSHARE_{field.name.upper()}"
            if key in env:
                values[field.name] = env[key]
        if "INTELSHARE_WORKER_STEPS" in env and "INTELSHARE_WORKER_AGENTS" not in env:
            values["worker_agents"] = env["INTELSHARE_WORKER_STEPS"]
        if "worker_steps" in values:  # its older name, in an intelshare.toml
            values.setdefault("worker_agents", values["worker_steps"])
            del values["worker_steps"]
        if "KAFKA_BOOTSTRAP_SERVERS" in env:
            values["bootstrap_servers"] = env["KAFKA_BOOTSTRAP_SERVERS"]
        elif "broker_port" in values and "bootstrap_servers" not in values:
            values["bootstrap_servers"] = f"127.0.0.1:{values['broker_port']}"
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Coerce raw strings or TOML values into typed fields, naming any bad one."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                msg(
                    "unknown setting(s) {unknown}; known: {known}",
                    unknown=", ".join(unknown),
                    known=", ".join(known),
                )
            )
        kwargs: dict[str, Any] = {}
        for name, raw in values.items():
            default = getattr(cls(), name)
            try:
                kwargs[name] = _coerce(raw, default, name)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    msg(
                        "setting {name} (INTELSHARE_{upper}) = {raw!r} is not valid: {exc}",
                        name=name,
                        upper=name.upper(),
                        raw=raw,
                        exc=exc,
                    )
                ) from exc
        return cls(**kwargs)


_PATHS = frozenset(
    {"home", "schemas_dir", "broker_dir", "sasl_password_file", "unit_key_file"}
    | {"ssl_cafile", "ssl_certfile", "ssl_keyfile", "https_certfile", "https_keyfile"}
)
"""Settings that are file or folder paths; empty means the default."""
_OPTIONAL_PORTS = frozenset({"broker_mtls_port", "broker_loopback_port"})
"""Port settings that may be left unset (None)."""

_MAY_BE_ZERO = frozenset({"broker_wait", "erase_wait"})
"""Numeric settings for which 0 means something ("do not wait"); the others must be positive."""

MAX_RETENTION_DAYS = 36500
"""The longest retention a ``retention_*_days`` setting may ask for (a hundred years): more
would overflow the broker's milliseconds; forever is only the audit log's, in the catalogue."""

_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")
"""An integer setting as text: ASCII digits only (``int()`` would also take ``1_000`` and
non-ASCII digits)."""


def _coerce(raw: Any, default: Any, name: str) -> Any:
    if name in _PATHS:
        return Path(raw) if raw not in (None, "") else default
    if name in _OPTIONAL_PORTS:
        return _coerce(raw, 1, "port") if raw not in (None, "") else None
    if isinstance(default, bool):
        return str(raw).lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        value = _whole_number(raw)
        if value <= 0:
            raise ValueError("must be a positive number")
        if name.startswith("retention_") and value > MAX_RETENTION_DAYS:
            raise ValueError(f"must be at most {MAX_RETENTION_DAYS} days")
        return value
    if isinstance(default, float):
        number = float(raw)
        if not math.isfinite(number):  # "nan" and "inf" parse; no wait or interval is either
            raise ValueError("must be a finite number")
        if name in _MAY_BE_ZERO and number < 0:
            raise ValueError("must be 0 or a positive number")
        if number <= 0 and name not in _MAY_BE_ZERO:
            raise ValueError("must be a positive number")
        return number
    return str(raw)


def _whole_number(raw: Any) -> int:
    """An integer from TOML (not a boolean) or from text of ASCII digits."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise TypeError("must be a whole number")
    if isinstance(raw, str) and not _WHOLE_NUMBER.fullmatch(raw.strip()):
        raise ValueError("must be a whole number written in digits")
    return int(raw)
