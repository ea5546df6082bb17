"""Issue 16: a broker whose certificate has expired, on a TLS broker of this test's own.

A broker cannot start with an expired certificate (its own link to the controller is TLS), so
the test does what happens in life, faster: the broker starts with a valid certificate of
node 1 and then, while it runs, serves on its SASL_SSL listener an expired one of the same
node (a dynamic update of ``listener.name.sasl_ssl.ssl.keystore.location``, which the broker
accepts because its own trust store also holds that expired certificate). Clients, trusting
only the exchange's CA, meet the expired certificate.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from ops import broker
from ops.runtime import free_port, wait_for
from streams.core.certs import CertStore, Kind, describe, issue
from streams.errors import TLSHandshakeError
from streams.kafka.clients import admin_client
from streams.settings import Settings
from tests.integration.helpers import run_cli
from tests.integration.secure_exchange import env_of


def _served_certificate_expired(port: int) -> bool:
    """Whether the listener at ``port`` now presents a certificate that has expired."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True) or b""
    return describe(ssl.DER_cert_to_PEM_cert(der).encode()).not_after < datetime.now(UTC)


def test_a_broker_certificate_that_expired_is_named_and_exits_2(tmp_path: Path) -> None:
    """`intelshare topics create` against a broker whose certificate expired: exit 2, no
    traceback, naming the certificate (node-1), when it expired, and the command that issues a
    new one; the in-process clients raise the same TLSHandshakeError."""
    ports = [free_port() for _ in range(4)]
    base = Settings(
        home=tmp_path / "home", broker_port=ports[0], controller_port=ports[1],
        broker_mtls_port=ports[2], broker_loopback_port=ports[3],
        bootstrap_servers=f"127.0.0.1:{ports[0]}", request_timeout=5.0,
    )  # fmt: skip
    certs, now = CertStore(base.certs_dir), datetime.now(UTC)
    certs.init("expiry test CA", now)
    shutil.copy(certs.ca_cert, tmp_path / "ca.pem")  # what clients trust: the CA only
    certs.issue(Kind.NODE, certs.node_name(1), ["127.0.0.1"], now)
    old = issue(
        certs.ca(), Kind.NODE, certs.node_name(1), ["127.0.0.1"], now - timedelta(days=2), 1
    )
    expired = tmp_path / "expired.keystore.pem"
    expired.write_bytes(old.key_pem + old.cert_pem)
    with certs.ca_cert.open("ab") as trusted:  # the broker's trust store
        trusted.write(old.cert_pem)
    broker.start(base, secure=True, tls=True)
    try:
        admin = broker.secure_settings(base, tls=True)
        loopback = dataclasses.replace(
            admin, security_protocol="SASL_PLAINTEXT", bootstrap_servers=f"127.0.0.1:{ports[3]}"
        )
        update = {"listener.name.sasl_ssl.ssl.keystore.location": str(expired)}
        with admin_client(loopback) as client:
            resource = ConfigResource(ConfigResourceType.BROKER, "1", configs=update)
            assert client.alter_configs([resource], raise_on_unknown=False) == {
                "broker": {"1": "OK"}
            }
        wait_for("the expired certificate", lambda: _served_certificate_expired(ports[0]), 20)

        client_side = dataclasses.replace(admin, ssl_cafile=tmp_path / "ca.pem", request_timeout=2)
        done = run_cli("topics", "create", env=env_of(client_side))
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert f"certificate at 127.0.0.1:{ports[0]} (node-1) expired on " in done.stderr
        assert f"{describe(old.cert_pem).not_after:%Y-%m-%d %H:%M} UTC" in done.stderr
        assert "`intelshare certs issue --node 1 --host 127.0.0.1`" in done.stderr
        with (
            pytest.raises(TLSHandshakeError, match=r"\(node-1\) expired on"),
            admin_client(client_side) as client,
        ):
            client.describe_cluster()
    finally:
        broker.stop(base)
