"""Issue 16: the whole exchange with TLS on every connection, on the package's secure broker.

SCRAM users over SASL_SSL and certificate users over mutual TLS, each under its own role's
ACLs; the worker as a certificate user (a worker over SASL_SSL, as the README's three-machine
section runs it, is test_cluster.py's, on the TLS cluster).
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.runtime import await_worker, free_port, launch_worker, stop_worker, worker_status
from streams.core.certs import Kind
from streams.kafka.users import Role, add_user
from streams.settings import Settings
from tests.factories import incident
from tests.integration.exchange import wait_until
from tests.integration.secure_exchange import SecureExchange


def test_a_report_travels_over_tls_from_unit_to_agency_and_audit(
    tls_admin: Settings, tmp_path: Path
) -> None:
    """The worker as certificate user tls-flow-worker over mutual TLS (no SASL: the
    certificate's name gets the worker role's ACLs), its status page over HTTPS; unit
    tls-flow-unit submits over mutual TLS with its certificate (signed and authorised as the
    certificate's user); agency e-one reads and decrypts the disclosure over mutual TLS with its
    certificate, and its receipt is recorded; the admin's `audit verify` over SASL_SSL finds
    the chain sound and every feed message audited once, and the oversight body's certificate
    reads the log and the receipt."""
    exchange = SecureExchange(tls_admin, tmp_path, share=False)
    admin, cli = exchange.admin, exchange.cli
    assert admin.security_protocol == "SASL_SSL"
    port, log = free_port(), tmp_path / "worker.log"
    page = exchange.certs.issue(Kind.NODE, "tls-flow-status", ["127.0.0.1"], datetime.now(UTC))
    add_user(admin, Role.WORKER, "tls-flow-worker")  # the role's ACLs, for the certificate too
    worker_env = exchange.cert_env("tls-flow-worker")
    assert worker_env["INTELSHARE_SECURITY_PROTOCOL"] == "SSL"
    assert "INTELSHARE_SASL_USERNAME" not in worker_env
    worker_env |= {
        "INTELSHARE_WEB_PORT": str(port),
        "INTELSHARE_HTTPS_CERTFILE": str(page),
        "INTELSHARE_HTTPS_KEYFILE": str(exchange.certs.key_of("tls-flow-status")),
    }
    worker = launch_worker(log, port, worker_env, wait=False)
    try:
        exchange.share()  # while the worker starts
        add_user(admin, Role.UNIT, "tls-flow-unit", ("KZ-PIU-TLSFLOW",))
        add_user(admin, Role.AGENCY, "e-one")
        add_user(admin, Role.OVERSIGHT, "tls-flow-ombudsman")
        as_unit, as_agency = exchange.cert_env("tls-flow-unit"), exchange.cert_env("e-one")
        as_oversight = exchange.cert_env("tls-flow-ombudsman")
        assert as_unit["INTELSHARE_SECURITY_PROTOCOL"] == "SSL"
        assert "INTELSHARE_SASL_USERNAME" not in as_unit
        trusting = ssl.create_default_context(cafile=str(exchange.certs.ca_cert))
        await_worker(worker, port, log, trusting)  # its status page, over HTTPS
        assert worker_status(port) is None  # and not over plain HTTP

        report = incident(unit_id="KZ-PIU-TLSFLOW", facility_id="KZ-F-1")
        (tmp_path / "report.json").write_text(json.dumps(report))
        sent = cli(as_unit, "submit", str(tmp_path / "report.json")).stdout.split()
        assert sent == [report["event_id"]]

        opened = exchange.consume(as_agency, expect=1)
        assert [(d["event_id"], d["agreement_id"]) for d in opened] == [(report["event_id"], "E-1")]
        assert opened[0]["payload"]["narrative"] == report["narrative"]

        def audited() -> list[dict[str, Any]]:
            queried = cli(as_oversight, "audit", "query", "--json").stdout
            return [json.loads(line) for line in queried.splitlines()]

        # the collection, the disclosure, and the agency's consultation from its receipt
        wait_until(lambda: len(audited()) == 3, timeout=60, what="three audit records")
        rows = audited()
        assert [r["kind"] for r in rows] == ["collection", "disclosure", "consultation"]
        assert rows[1]["recipient"] == rows[2]["recipient"] == "e-one"
        assert rows[1]["received_at"] is not None  # the agency's receipt, sent over mutual TLS
        reconciled = cli(exchange.as_admin, "audit", "verify").stdout
        assert "sound: 3 records" in reconciled
        assert "every feed message audited once" in reconciled
        assert f"https://127.0.0.1:{port}/status" in log.read_text()  # worker_ready's URL
    finally:
        stop_worker(worker)
