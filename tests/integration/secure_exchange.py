"""A whole exchange on the package's secure broker (secure_broker.py), set up by the admin
through the command line under a prefix and home of its own, and the environments of commands
run as its users: SCRAM users on whichever way in the admin uses (SASL_PLAINTEXT or SASL_SSL),
certificate users on the mutual-TLS listener.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from streams.core.certs import CertStore, Kind
from streams.settings import Settings
from tests.integration.exchange import agreement, facility
from tests.integration.helpers import run_cli
from tests.integration.secure_broker import MTLS_PORT

__all__ = ["SecureExchange", "env_of"]


def env_of(settings: Settings, **more: str) -> dict[str, str]:
    """The environment of a command run with ``settings``' broker, user and TLS files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTELSHARE_", "KAFKA_"))}
    named = {
        "INTELSHARE_SASL_USERNAME": settings.sasl_username,
        "INTELSHARE_SASL_PASSWORD_FILE": settings.sasl_password_file,
        "INTELSHARE_SSL_CAFILE": settings.ssl_cafile,
        "INTELSHARE_SSL_CERTFILE": settings.ssl_certfile,
        "INTELSHARE_SSL_KEYFILE": settings.ssl_keyfile,
    }
    return (
        env
        | {
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "INTELSHARE_HOME": str(settings.home),
            "INTELSHARE_TOPIC_PREFIX": settings.topic_prefix,
            "INTELSHARE_REQUEST_TIMEOUT": "3",
            "INTELSHARE_SECURITY_PROTOCOL": settings.security_protocol,
        }
        | {name: str(value) for name, value in named.items() if value}
        | more
    )


def certified(admin: Settings, name: str, certs: CertStore) -> Settings:
    """``admin``'s settings turned into those of certificate user ``name`` (a certificate
    from ``certs``, issued now) on the mutual-TLS listener: no SASL at all."""
    certs.issue(Kind.USER, name, [], datetime.now(UTC))
    return dataclasses.replace(
        admin,
        security_protocol="SSL",
        bootstrap_servers=f"127.0.0.1:{MTLS_PORT}",
        sasl_username="",
        sasl_password="",
        sasl_password_file=None,
        ssl_certfile=certs.cert_of(name),
        ssl_keyfile=certs.key_of(name),
    )


class SecureExchange:
    """Topics, the exchange's keys, agency e-one with its feed, facility KZ-F-1 and an
    agreement E-1 disclosing to e-one, under a prefix and home of their own."""

    def __init__(self, secure_admin: Settings, home: Path, *, share: bool = True) -> None:
        """Topics and keys; unless ``share`` is False (then call :meth:`share`), the agency's
        registration, the reference data and the agreement too."""
        prefix = f"e{uuid.uuid4().hex[:8]}."
        self.home = home
        self.certs = CertStore(secure_admin.certs_dir)  # the broker's CA, before home changes
        self.admin = dataclasses.replace(secure_admin, topic_prefix=prefix, home=home)
        self.as_admin = env_of(self.admin, INTELSHARE_REQUEST_TIMEOUT="10")
        self.cli(self.as_admin, "topics", "create")
        self.cli(self.as_admin, "keys", "generate", "--exchange")
        self.cli(self.as_admin, "keys", "generate", "--agency", "e-one")
        self.keys = home / "keys"
        if share:
            self.share()

    def share(self) -> None:
        """Register e-one, load facility KZ-F-1 and apply agreement E-1."""
        home = self.home
        self.cli(self.as_admin, "agencies", "register", "--id", "e-one", "--name", "e-one",
                 "--public-key", str(self.keys / "e-one.pub"))  # fmt: skip
        (home / "ref.jsonl").write_text(json.dumps(facility("KZ-F-1", "KZ")) + "\n")
        self.cli(self.as_admin, "reference", "load", str(home / "ref.jsonl"))
        (home / "agreements.yaml").write_text(yaml.safe_dump([agreement("E-1", "e-one")]))
        self.cli(self.as_admin, "agreements", "apply", str(home / "agreements.yaml"))

    def env(self, user: str, password_file: Path) -> dict[str, str]:
        """The environment of a command run as SCRAM user ``user``, the admin's way in."""
        return self.as_admin | {
            "INTELSHARE_SASL_USERNAME": user,
            "INTELSHARE_SASL_PASSWORD_FILE": str(password_file),
        }

    def cert_env(self, user: str) -> dict[str, str]:
        """The environment of a command run as certificate user ``user`` (a certificate
        issued now by the broker's CA) over mutual TLS."""
        return env_of(certified(self.admin, user, self.certs), INTELSHARE_REQUEST_TIMEOUT="10")

    def cli(self, environment: dict[str, str], *args: str) -> Any:
        """Run ``intelshare ARGS``, which must succeed."""
        done = run_cli(*args, env=environment)
        assert done.returncode == 0, f"intelshare {' '.join(args)}: {done.stderr[-2000:]}"
        return done

    def consume(self, agency: dict[str, str], expect: int, timeout: float = 60) -> list[Any]:
        """e-one's decrypted disclosures, once at least ``expect`` are there (or the timeout)."""
        deadline = time.monotonic() + timeout
        opened: list[Any] = []
        while len(opened) < expect and time.monotonic() < deadline:
            done = run_cli("consume", "--agency", "e-one", "--key", str(self.keys / "e-one.key"),
                           "--from-beginning", env=agency)  # fmt: skip
            opened = [json.loads(line) for line in done.stdout.splitlines()]
            time.sleep(1)
        return opened

    def dead_letters(self, expect: int, timeout: float = 60) -> list[dict[str, Any]]:
        """`deadletter list` as the admin, once at least ``expect`` are there (or the timeout)."""
        deadline = time.monotonic() + timeout
        letters: list[dict[str, Any]] = []
        while len(letters) < expect and time.monotonic() < deadline:
            done = self.cli(self.as_admin, "deadletter", "list")
            letters = [json.loads(line) for line in done.stdout.splitlines()]
            time.sleep(0.5)
        return letters
