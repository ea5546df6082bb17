"""The exchange's CA and its certificates (streams.core.certs), the client's TLS checks before
a connection (streams.kafka.tls) and the web servers' HTTPS rule (streams.cli.https), without
a broker."""

from __future__ import annotations

import argparse
import dataclasses
import os
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from streams.cli import build_parser, main
from streams.cli.https import is_loopback, listening
from streams.core.certs import CertStore, Kind, describe, issue, make_ca
from streams.errors import CertificateError, ConfigError, TLSHandshakeError
from streams.kafka.clients import librdkafka_config
from streams.kafka.tls import client_context
from streams.settings import Settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> CertStore:
    """A CA made at :data:`NOW` in a fresh folder."""
    certs = CertStore(tmp_path / "certs")
    certs.init("test CA", NOW)
    return certs


def test_init_writes_the_ca_with_its_key_0600_and_refuses_a_second(store: CertStore) -> None:
    """`certs init`: ca.pem is a CA certificate, ca.key is readable by its owner only; a
    second init keeps the first CA (every certificate depends on it)."""
    assert describe(store.ca_cert.read_bytes()).is_ca
    assert stat.S_IMODE(store.ca_key.stat().st_mode) == 0o600
    with pytest.raises(CertificateError, match="a CA exists already"):
        store.init("another", NOW)


def test_a_node_certificate_names_its_hosts_and_serves_and_connects(store: CertStore) -> None:
    """A node's certificate: SAN with each DNS name and IP address, server and client auth,
    90 days by default, its chain ending in the CA; the key is 0600."""
    path = store.issue(Kind.NODE, "node-1", ["exchange.example.org", "10.0.0.5"], NOW)
    info = describe(path.read_bytes())
    assert info.name == "node-1"
    assert info.hosts == ("exchange.example.org", "10.0.0.5")
    assert info.not_after - NOW == timedelta(days=90)
    assert info.issuer == "test CA"
    assert stat.S_IMODE(store.key_of("node-1").stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates(path.read_bytes())
    assert chain[1] == x509.load_pem_x509_certificate(store.ca_cert.read_bytes())
    usage = chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    chain[0].verify_directly_issued_by(chain[1])


def test_a_user_certificate_carries_the_user_as_common_name(store: CertStore) -> None:
    """A user's certificate: its common name is the Kafka user, client auth only, no hosts."""
    cert = x509.load_pem_x509_certificate(store.issue(Kind.USER, "kz-knb", [], NOW).read_bytes())
    assert cert.subject.rfc4514_string() == "CN=kz-knb"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert describe(cert.public_bytes(Encoding.PEM)).hosts == ()


def test_issue_refuses_what_cannot_work(store: CertStore, tmp_path: Path) -> None:
    """No CA, a node without hosts, a non-positive validity, a name with a slash: each refused
    with what to do."""
    with pytest.raises(CertificateError, match="run `intelshare certs init` first"):
        CertStore(tmp_path / "empty").issue(Kind.USER, "u", [], NOW)
    with pytest.raises(CertificateError, match="at least one --host"):
        issue(store.ca(), Kind.NODE, "node-1", [], NOW)
    with pytest.raises(CertificateError, match="positive number of days"):
        issue(store.ca(), Kind.USER, "u", [], NOW, days=0)
    with pytest.raises(CertificateError, match="cannot name a certificate"):
        store.issue(Kind.USER, "../ca", [], NOW)


def test_a_certificate_never_outlives_its_ca() -> None:
    """Asked for longer than the CA has left, a certificate ends with the CA."""
    ca = make_ca("short CA", NOW, days=10)
    info = describe(issue(ca, Kind.USER, "u", [], NOW, days=90).cert_pem)
    assert info.not_after == describe(ca.cert_pem).not_after


def test_list_shows_the_ca_first_then_each_certificate(store: CertStore) -> None:
    """`certs list` reads every certificate of the folder, the CA first."""
    store.issue(Kind.USER, "b-user", [], NOW)
    store.issue(Kind.NODE, "a-node", ["h"], NOW)
    assert [info.name for _, info in store.listing()] == ["test CA", "a-node", "b-user"]


def _client(store: CertStore, protocol: str, user: str | None = None) -> Settings:
    return Settings(
        security_protocol=protocol,
        sasl_username="u",
        sasl_password="p",
        ssl_cafile=store.ca_cert,
        ssl_certfile=store.cert_of(user) if user else None,
        ssl_keyfile=store.key_of(user) if user else None,
    )


def test_tls_settings_are_checked_before_any_connection(store: CertStore, tmp_path: Path) -> None:
    """SASL_SSL without a CA file, SSL without a certificate, an unreadable CA file, an
    expired client certificate: each names the INTELSHARE_SSL_* setting to fix."""
    with pytest.raises(ConfigError, match="INTELSHARE_SSL_CAFILE"):
        Settings(
            security_protocol="SASL_SSL", sasl_username="u", sasl_password="p"
        ).kafka_security()
    with pytest.raises(ConfigError, match="INTELSHARE_SSL_CERTFILE and INTELSHARE_SSL_KEYFILE"):
        _client(store, "SSL").kafka_security()
    missing = dataclasses.replace(_client(store, "SASL_SSL"), ssl_cafile=tmp_path / "none.pem")
    with pytest.raises(ConfigError, match=r"INTELSHARE_SSL_CAFILE .*none\.pem"):
        client_context(missing)
    store.issue(Kind.USER, "old", [], NOW - timedelta(days=100), days=30)
    with pytest.raises(
        TLSHandshakeError, match=r"INTELSHARE_SSL_CERTFILE .*old.pem \(old\) expired"
    ):
        client_context(_client(store, "SSL", "old"), now=NOW)


def test_the_client_context_verifies_the_broker_and_speaks_tls_1_2_or_newer(
    store: CertStore,
) -> None:
    """Host names checked, certificates required, nothing below TLS 1.2."""
    store.issue(Kind.USER, "kz-knb", [], NOW)
    context = client_context(_client(store, "SSL", "kz-knb"), now=NOW)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_librdkafka_gets_the_same_files_and_checks_host_names(store: CertStore) -> None:
    """The agents' confluent-kafka config: SASL_SSL with the CA, SSL with the certificate too,
    endpoint identification on."""
    sasl = librdkafka_config(_client(store, "SASL_SSL"))
    assert sasl["security.protocol"] == "SASL_SSL"
    assert sasl["ssl.ca.location"] == str(store.ca_cert)
    assert sasl["ssl.endpoint.identification.algorithm"] == "https"
    assert sasl["sasl.username"] == "u"
    store.issue(Kind.USER, "kz-knb", [], datetime.now(UTC))
    mutual = librdkafka_config(_client(store, "SSL", "kz-knb"))
    assert mutual["ssl.certificate.location"] == str(store.cert_of("kz-knb"))
    assert mutual["ssl.key.location"] == str(store.key_of("kz-knb"))
    assert "sasl.username" not in mutual


def test_settings_read_the_tls_files_from_the_environment() -> None:
    """INTELSHARE_SECURITY_PROTOCOL=SSL and INTELSHARE_SSL_* load as paths; ports optional."""
    loaded = Settings.load(
        {
            "INTELSHARE_SECURITY_PROTOCOL": "SSL",
            "INTELSHARE_SSL_CAFILE": "/c/ca.pem",
            "INTELSHARE_SSL_CERTFILE": "/c/u.pem",
            "INTELSHARE_SSL_KEYFILE": "/c/u.key",
            "INTELSHARE_BROKER_PORT": "9100",
        },
        config_file=Path("/nonexistent.toml"),
    )
    assert (loaded.ssl_cafile, loaded.ssl_certfile) == (Path("/c/ca.pem"), Path("/c/u.pem"))
    assert loaded.mtls_port == 9102
    assert loaded.broker_loopback_port is None


def _serve_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["oversight", "serve", *argv])


def test_a_web_server_refuses_plain_http_off_loopback(store: CertStore) -> None:
    """Loopback may be plain HTTP; another address or a name without --tls-cert is refused; with a
    certificate it serves HTTPS and answers to the name it listens on."""
    settings = Settings()
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert not is_loopback("192.0.2.10")
    assert listening(settings, _serve_args(), "serve").context is None
    with pytest.raises(ConfigError, match=r"will not serve plain HTTP on 192\.0\.2\.10"):
        listening(settings, _serve_args("--host", "192.0.2.10"), "serve")
    cert = store.issue(Kind.NODE, "oversight", ["oversight.example.org"], NOW)
    args = _serve_args("--host", "oversight.example.org", "--tls-cert", str(cert),
                       "--tls-key", str(store.key_of("oversight")))  # fmt: skip
    served = listening(settings, args, "serve")
    assert served.context is not None
    assert served.names == ("oversight.example.org",)
    assert served.url(6067) == "https://oversight.example.org:6067/"
    with pytest.raises(ConfigError, match="both --tls-cert and --tls-key"):
        listening(settings, _serve_args("--tls-cert", str(cert)), "serve")


def test_the_readme_certificate_commands_run_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `intelshare certs` lines, run with the real command line in a fresh home:
    a CA, node 1 for exchange.example.org (and 127.0.0.1), the agency's certificate, a list."""
    import shlex

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("INTELSHARE_")]:
        monkeypatch.delenv(name)
    for line in (
        "intelshare certs init",
        "intelshare certs issue --node 1 --host exchange.example.org",
        "intelshare certs issue --user kz-knb",
        "intelshare certs list",
    ):
        assert main(shlex.split(line)[1:]) == 0, line
    listed = capsys.readouterr().out.splitlines()[-3:]
    assert [row.split()[:3] for row in listed] == [
        ["ca.pem", "CA", "intelshare"],
        ["kz-knb.pem", "user", "kz-knb"],
        ["node-1.pem", "node", "node-1"],
    ]
    assert "exchange.example.org,127.0.0.1" in listed[2]
    assert stat.S_IMODE((tmp_path / ".intelshare/certs/kz-knb.key").stat().st_mode) == 0o600


def test_the_agents_authenticate_with_the_workers_certificate(
    store: CertStore, tmp_path: Path
) -> None:
    """A worker run as certificate user (INTELSHARE_SECURITY_PROTOCOL=SSL): each agent's
    quixstreams application gives its consumer, its transactional producer and the admin that
    creates its changelogs the CA, the certificate and its key, and no SASL (quixstreams 3.28
    keeps these configs on ``_config`` and the topic manager's admin: a new version that moves
    them fails here, not on a broker)."""
    from agents.engine import application
    from agents.status import Progress

    store.issue(Kind.USER, "exchange", [], datetime.now(UTC))
    settings = dataclasses.replace(
        _client(store, "SSL", "exchange"), sasl_username="", sasl_password="", home=tmp_path
    )
    agent = SimpleNamespace(source="intel.submissions")
    app = application(settings, agent, "intelshare-route", 1, Progress("route", 1))  # type: ignore[arg-type]
    configs = [
        app._config.consumer_extra_config,
        app._config.producer_extra_config,
        app._topic_manager._admin._config,
    ]
    for config in configs:
        assert config["security.protocol"] == "SSL"
        assert config["ssl.ca.location"] == str(store.ca_cert)
        assert config["ssl.certificate.location"] == str(store.cert_of("exchange"))
        assert config["ssl.key.location"] == str(store.key_of("exchange"))
        assert config["ssl.endpoint.identification.algorithm"] == "https"
        assert not any(key.startswith("sasl.") for key in config)
