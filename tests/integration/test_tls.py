"""Issue 16: TLS on every connection, on the package's secure broker (secure_broker.py).

Its SASL_SSL listener carries SCRAM users over TLS; its mutual-TLS listener takes a client
certificate whose common name is the Kafka user, under that user's ACLs. A failed handshake
is refused with the setting to fix, and a capture of a client's bytes shows no narrative.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.core.certs import CertStore, Kind
from streams.errors import NotAuthorisedError, TLSHandshakeError
from streams.kafka.clients import admin_client, producer, publish, read_topic
from streams.kafka.topics import create_topics
from streams.kafka.users import Role, add_user
from streams.settings import Settings
from streams.topics import CATALOGUE, feed_spec
from tests.integration.helpers import run_cli
from tests.integration.secure_broker import LOOPBACK_PORT, MTLS_PORT, PREFIX
from tests.integration.secure_exchange import env_of

NARRATIVE = "a narrative that must never cross the wire in clear 7f3a9c"


def _scram(admin: Settings, role: Role, name: str, units: tuple[str, ...] = ()) -> Settings:
    """A new SCRAM user ``name`` with ``role``, over the same way in as ``admin``."""
    path = add_user(admin, role, name, units)
    return dataclasses.replace(admin, sasl_username=name, sasl_password="", sasl_password_file=path)


def _certified(
    tls_admin: Settings, name: str, now: datetime | None = None, days: int = 90
) -> Settings:
    """Settings of a certificate user ``name`` (issued at ``now`` for ``days``) on the
    mutual-TLS listener: no SASL at all."""
    store = CertStore(tls_admin.certs_dir)
    store.issue(Kind.USER, name, [], now or datetime.now(UTC), days)
    return dataclasses.replace(
        tls_admin,
        security_protocol="SSL",
        bootstrap_servers=f"127.0.0.1:{MTLS_PORT}",
        sasl_username="",
        sasl_password_file=None,
        ssl_certfile=store.cert_of(name),
        ssl_keyfile=store.key_of(name),
    )


def _describe(settings: Settings) -> None:
    with admin_client(settings) as admin:
        admin.describe_cluster()


def test_scram_users_publish_and_read_over_sasl_ssl(tls_admin: Settings) -> None:
    """A unit writes submissions and an agency reads its feed over SASL_SSL, each with its own
    SCRAM credential and ACLs, and the agency may not read another agency's feed."""
    unit = _scram(tls_admin, Role.UNIT, "tls-unit", ("KZ-PIU-TLS",))
    assert unit.security_protocol == "SASL_SSL"
    assert publish(unit, f"{PREFIX}intel.submissions", [(b"k", b"over tls")]) == 1
    feed = f"{PREFIX}intel.feed.tls-scram-agency"
    assert all(o.problem is None for o in create_topics(tls_admin, [feed_spec("tls-scram-agency")]))
    publish(tls_admin, feed, [(b"k", b"for the agency, over tls")])
    agency = _scram(tls_admin, Role.AGENCY, "tls-scram-agency")
    assert [r.value for r in read_topic(agency, feed)] == [b"for the agency, over tls"]
    with pytest.raises(NotAuthorisedError, match="user tls-scram-agency may not read"):
        read_topic(agency, f"{PREFIX}intel.feed.agency-b")


def test_a_cli_command_runs_over_sasl_ssl(tls_admin: Settings) -> None:
    """`intelshare topics create` as the admin with INTELSHARE_SECURITY_PROTOCOL=SASL_SSL and
    INTELSHARE_SSL_CAFILE: exit 0, every topic there already."""
    done = run_cli("topics", "create", env=env_of(tls_admin))
    assert done.returncode == 0, done.stderr
    assert f"{PREFIX}intel.submissions" in done.stdout


def test_a_certificate_user_has_its_roles_acls(tls_admin: Settings) -> None:
    """Over mutual TLS, the certificate of agency tls-agency reads that agency's feed and
    nothing else (its role's ACLs, granted to User:tls-agency); a certificate whose name has
    no ACLs reads nothing."""
    feed = f"{PREFIX}intel.feed.tls-agency"
    assert all(o.problem is None for o in create_topics(tls_admin, [feed_spec("tls-agency")]))
    publish(tls_admin, feed, [(b"k", b"for the certificate")])
    add_user(tls_admin, Role.AGENCY, "tls-agency")
    agency = _certified(tls_admin, "tls-agency")
    assert [r.value for r in read_topic(agency, feed)] == [b"for the certificate"]
    with pytest.raises(NotAuthorisedError, match="user tls-agency may not read"):
        read_topic(agency, f"{PREFIX}intel.feed.agency-b")
    with pytest.raises(NotAuthorisedError):
        publish(agency, f"{PREFIX}intel.submissions", [(b"k", b"forged")])
    with pytest.raises(NotAuthorisedError, match="user stranger may not read"):
        read_topic(_certified(tls_admin, "stranger"), feed)


def test_a_unit_submits_over_mutual_tls_with_its_certificate(
    tls_admin: Settings, tmp_path: Path
) -> None:
    """`intelshare submit` with INTELSHARE_SECURITY_PROTOCOL=SSL and the unit's certificate:
    exit 0, and the report on intel.submissions is signed as the certificate's user."""
    import json

    from streams.core.submission import USER_HEADER
    from tests.factories import incident

    add_user(tls_admin, Role.UNIT, "tls-cert-unit", ("KZ-PIU-CERT",))
    unit = _certified(tls_admin, "tls-cert-unit")
    report = incident(unit_id="KZ-PIU-CERT")
    (tmp_path / "report.json").write_text(json.dumps(report))
    done = run_cli("submit", str(tmp_path / "report.json"), env=env_of(unit))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [report["event_id"]]
    sent = [
        r for r in read_topic(tls_admin, f"{PREFIX}intel.submissions")
        if r.key == report["event_id"].encode()
    ]  # fmt: skip
    assert dict(sent[0].headers)[USER_HEADER] == b"tls-cert-unit"


def test_the_agents_librdkafka_clients_use_tls(tls_admin: Settings, tmp_path: Path) -> None:
    """The agents' confluent-kafka clients (a reference view here) read over SASL_SSL as the
    worker and over mutual TLS with a certificate; trusting another CA, their broker probe is
    refused naming INTELSHARE_SSL_CAFILE."""
    from agents.views import TopicView
    from streams.kafka.clients import BrokerProbe

    topic = f"{PREFIX}intel.ref.subjects"
    publish(tls_admin, topic, [(b"KZ-P-1", b"subject")])
    worker = _scram(tls_admin, Role.WORKER, "tls-worker")
    add_user(tls_admin, Role.WORKER, "tls-worker-cert")
    for settings in (worker, _certified(tls_admin, "tls-worker-cert")):
        view: TopicView[bytes] = TopicView(settings, topic, lambda raw: raw)
        try:
            view.ready(30)
            assert list(view) == [b"subject"]
        finally:
            view.stop()
    other = CertStore(tmp_path / "other")
    other.init("another CA", datetime.now(UTC))
    with (
        BrokerProbe(dataclasses.replace(worker, ssl_cafile=other.ca_cert)) as probe,
        pytest.raises(TLSHandshakeError, match="INTELSHARE_SSL_CAFILE"),
    ):
        probe.answers(3)


def test_a_client_trusting_another_ca_is_refused(tls_admin: Settings, tmp_path: Path) -> None:
    """INTELSHARE_SSL_CAFILE of another CA: the command exits 2, names the setting, no
    traceback."""
    other = CertStore(tmp_path / "other")
    other.init("another CA", datetime.now(UTC))
    done = run_cli(
        "topics",
        "create",
        env=env_of(
            tls_admin, INTELSHARE_SSL_CAFILE=str(other.ca_cert), INTELSHARE_REQUEST_TIMEOUT="1"
        ),
    )
    assert done.returncode == 2
    assert "is not trusted" in done.stderr
    assert "INTELSHARE_SSL_CAFILE" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrong_host_name_is_refused(tls_admin: Settings) -> None:
    """The broker's certificate names 127.0.0.1: connecting as localhost is refused, naming
    the names it holds and KAFKA_BOOTSTRAP_SERVERS."""
    wrong = dataclasses.replace(
        tls_admin, bootstrap_servers=f"localhost:{tls_admin.bootstrap_servers.split(':')[1]}",
        request_timeout=1.0,
    )  # fmt: skip
    with pytest.raises(
        TLSHandshakeError, match=r"not valid for the name localhost \(it names: 127.0.0.1\)"
    ) as refused:
        _describe(wrong)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(refused.value)


def test_an_expired_client_certificate_is_refused(tls_admin: Settings) -> None:
    """A certificate that expired yesterday is refused before anything is sent, naming
    INTELSHARE_SSL_CERTFILE; and the broker itself refuses it at the handshake."""
    expired = _certified(
        tls_admin, "expired-user", now=datetime.now(UTC) - timedelta(days=2), days=1
    )
    with pytest.raises(TLSHandshakeError, match=r"INTELSHARE_SSL_CERTFILE .* expired on"):
        _describe(expired)
    context = ssl.create_default_context(cafile=str(tls_admin.ssl_cafile))
    context.load_cert_chain(str(expired.ssl_certfile), str(expired.ssl_keyfile))
    with (
        socket.create_connection(("127.0.0.1", MTLS_PORT), timeout=5) as raw,
        pytest.raises(ssl.SSLError, match=r"(?i)certificate"),
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.recv(1)  # TLS 1.3: the broker's verdict on the client comes after the handshake


def test_a_certificate_of_another_ca_is_refused_by_the_broker(
    tls_admin: Settings, tmp_path: Path
) -> None:
    """A client certificate the broker does not trust: the broker refuses it, and the error
    names INTELSHARE_SSL_CERTFILE."""
    other = CertStore(tmp_path / "other")
    now = datetime.now(UTC)
    other.init("another CA", now)
    other.issue(Kind.USER, "tls-agency", [], now)
    forged = dataclasses.replace(
        _certified(tls_admin, "someone"), ssl_certfile=other.cert_of("tls-agency"),
        ssl_keyfile=other.key_of("tls-agency"), request_timeout=1.0,
    )  # fmt: skip
    with pytest.raises(
        TLSHandshakeError, match=r"refused this client's certificate.*INTELSHARE_SSL_CERTFILE"
    ):
        _describe(forged)


def test_a_plaintext_client_at_the_tls_port_is_told_to_use_tls(tls_admin: Settings) -> None:
    """SASL_PLAINTEXT against the SASL_SSL port: refused, naming INTELSHARE_SECURITY_PROTOCOL
    (not a wrong password)."""
    plaintext = dataclasses.replace(
        tls_admin, security_protocol="SASL_PLAINTEXT", request_timeout=1.0
    )
    with pytest.raises(
        TLSHandshakeError, match=r"speaks TLS.*INTELSHARE_SECURITY_PROTOCOL=SASL_SSL"
    ):
        _describe(plaintext)


def test_the_broker_speaks_tls_1_3_and_1_2(tls_admin: Settings) -> None:
    """A client's default handshake gets TLS 1.3; one limited to TLS 1.2 gets 1.2 (the
    broker's ssl.enabled.protocols is TLSv1.3,TLSv1.2: nothing older)."""
    port = int(tls_admin.bootstrap_servers.split(":")[1])
    for highest, expected in ((None, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
        context = ssl.create_default_context(cafile=str(tls_admin.ssl_cafile))
        if highest is not None:
            context.maximum_version = highest
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() == expected


class _Tap:
    """An HTTP CONNECT proxy on 127.0.0.1 that relays a client's connections to the broker and
    keeps every byte it relays, both ways: what a capture of the wire would see."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.wire = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                return
            request += chunk
        host, _, port = request.split()[1].decode().rpartition(":")
        with client, socket.create_connection((host, int(port))) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pump(client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while True:
            readable, _, _ = select.select(list(peers), [], [], 30)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                with self._lock:
                    self.wire += data
                peers[sock].sendall(data)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def tap() -> Iterator[_Tap]:
    """A fresh wire tap."""
    proxy = _Tap()
    yield proxy
    proxy.close()


def _send_report(settings: Settings, proxy: _Tap) -> None:
    """A report with :data:`NARRATIVE`, encoded as `submit` writes it, sent through ``proxy``."""
    from streams.core.codec import record_codec
    from streams.core.report import validate_report
    from tests.factories import incident

    report = validate_report(incident(narrative=NARRATIVE), now=datetime.now(UTC))
    value = record_codec(settings.schemas_dir, "Report").encode(report)
    client = producer(settings, proxy_url=f"http://127.0.0.1:{proxy.port}")
    try:
        topic = f"{settings.topic_prefix}intel.submissions"
        client.send(topic, key=report["event_id"].encode(), value=value).get(timeout=10)
    finally:
        client.close()


def test_a_capture_of_the_wire_shows_no_narrative(tls_admin: Settings, tap: _Tap) -> None:
    """Through a tap, a report sent over SASL_SSL leaves no narrative on the wire; the same
    report over the plaintext listener does (so the tap sees what it should)."""
    unit = _scram(tls_admin, Role.UNIT, "tls-tapped", ("KZ-PIU-TAP",))
    _send_report(unit, tap)
    assert len(tap.wire) > 1000
    assert NARRATIVE.encode() not in tap.wire
    assert b"tls-tapped" not in tap.wire  # nor the user name, sent inside SASL
    tap.wire.clear()
    plain = dataclasses.replace(
        unit, security_protocol="SASL_PLAINTEXT", bootstrap_servers=f"127.0.0.1:{LOOPBACK_PORT}"
    )
    _send_report(plain, tap)
    assert NARRATIVE.encode() in tap.wire


def test_the_oversight_page_serves_https_and_reads_over_sasl_ssl(
    tls_admin: Settings, tmp_path: Path
) -> None:
    """`oversight serve --tls-cert --tls-key` answers over HTTPS with a certificate of the
    exchange's CA, reading the log over SASL_SSL; without them it refuses a non-loopback
    --host and exits 2."""
    import json
    import subprocess
    import sys
    import urllib.request

    from ops.runtime import free_port, wait_for
    from streams.core.keyfiles import generate_exchange_keys

    store = CertStore(tls_admin.certs_dir)
    cert = store.issue(Kind.NODE, "oversight-page", ["127.0.0.1"], datetime.now(UTC))
    empty = dataclasses.replace(tls_admin, topic_prefix=f"o{uuid.uuid4().hex[:8]}.")
    assert all(o.problem is None for o in create_topics(empty, CATALOGUE))
    (tmp_path / "keys").mkdir()
    generate_exchange_keys(tmp_path / "keys")
    env = env_of(empty, INTELSHARE_HOME=str(tmp_path))
    refused = run_cli("oversight", "serve", "--host", "192.0.2.10", env=env)
    assert refused.returncode == 2
    assert "will not serve plain HTTP on 192.0.2.10" in refused.stderr
    port = free_port()
    args = [
        "--port",
        str(port),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(store.key_of("oversight-page")),
    ]
    server = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "oversight", "serve", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"oversight page on https://127.0.0.1:{port}/"
        context = ssl.create_default_context(cafile=str(store.ca_cert))
        url = f"https://127.0.0.1:{port}/api/disclosures"
        answers: list[dict[str, object]] = []

        def answered() -> bool:
            try:
                with urllib.request.urlopen(url, context=context, timeout=10) as response:
                    answers.append(json.load(response))
            except OSError:
                return False
            return True

        wait_for("the oversight page over HTTPS", answered, 20)
        assert answers[0]["count"] == 0  # an empty log, read over SASL_SSL
    finally:
        server.terminate()
        server.wait(timeout=10)
