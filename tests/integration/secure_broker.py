"""The package's one secure broker: SASL/SCRAM-SHA-512 with ACLs, over TLS as well.

It listens on four ports: SASL_SSL for clients (``BROKER_PORT``), the KRaft controller over
TLS, mutual TLS for certificate users (``MTLS_PORT``), and SASL_PLAINTEXT on 127.0.0.1
(``LOOPBACK_PORT``), which the tests of test_security.py use. Its node certificate, from a CA
made for it in its home, names 127.0.0.1 only. The fixtures of ``conftest.py`` start it once
for the package, on its own ports and home, so the session's plaintext broker is untouched.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from streams.core.certs import CertStore, Kind
from streams.kafka.topics import create_topics
from streams.settings import Settings
from streams.topics import CATALOGUE, INTERNAL, feed_spec

__all__ = ["BROKER_PORT", "LOOPBACK_PORT", "MTLS_PORT", "PREFIX", "SecureBroker", "run"]

_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_BASE = 19592 + 10 * _WORKER
BROKER_PORT, CONTROLLER_PORT, MTLS_PORT, LOOPBACK_PORT = _BASE, _BASE + 1, _BASE + 2, _BASE + 3
"""Fixed ports, ten apart per pytest-xdist worker process (gw0, gw1...): each process that runs a
module of the secure broker starts one of its own, and two must not meet."""
PREFIX = f"s{uuid.uuid4().hex[:8]}."
"""The topic prefix of test_security.py's catalogue (feeds agency-a and agency-b)."""


class SecureBroker(NamedTuple):
    """The admin's settings on each way in."""

    plain: Settings
    """SASL_PLAINTEXT on the loopback listener."""
    tls: Settings
    """SASL_SSL, trusting the broker's CA (``certs``' ca.pem)."""
    certs: CertStore
    """The CA that signed the broker's certificate, to issue users' certificates with."""


def run(home: Path) -> Iterator[SecureBroker]:
    """Start the broker from ``home`` with its catalogue under :data:`PREFIX`; stop it after."""
    from ops import broker

    base = Settings(
        home=home,
        broker_port=BROKER_PORT,
        controller_port=CONTROLLER_PORT,
        broker_mtls_port=MTLS_PORT,
        broker_loopback_port=LOOPBACK_PORT,
        bootstrap_servers=f"127.0.0.1:{BROKER_PORT}",
        topic_prefix=PREFIX,
        request_timeout=5.0,
    )
    certs = CertStore(base.certs_dir)
    now = datetime.now(UTC)
    certs.init("test exchange CA", now)
    certs.issue(Kind.NODE, certs.node_name(1), ["127.0.0.1"], now)
    broker.start(base, secure=True, tls=True)
    try:
        tls = broker.secure_settings(base, tls=True)
        plain = dataclasses.replace(
            tls, security_protocol="SASL_PLAINTEXT", bootstrap_servers=f"127.0.0.1:{LOOPBACK_PORT}"
        )
        specs = CATALOGUE + INTERNAL + (feed_spec("agency-a"), feed_spec("agency-b"))
        assert all(o.problem is None for o in create_topics(plain, specs))
        yield SecureBroker(plain, tls, certs)
    finally:
        broker.stop(base)
