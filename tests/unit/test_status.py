"""An agent instance's figures from librdkafka's statistics, and the worker's /metrics over them."""

from __future__ import annotations

import dataclasses
import http.client
import json
import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.status import (
    Progress,
    ProgressWriter,
    StatusServer,
    _Collector,
    read_status,
    status_listening,
)
from streams.settings import Settings

SOURCE = "p.intel.enriched"
CHANGELOG = "changelog__p.intelshare-enrich--p.intel.validated--default"


def _partition(desired: bool, app_offset: int, ls_offset: int, lag: int = -1) -> dict[str, Any]:
    return {
        "desired": desired,
        "fetch_state": "active" if desired else "none",
        "app_offset": app_offset,
        "ls_offset": ls_offset,
        "committed_offset": -1001,  # offsets committed in a transaction never show here
        "consumer_lag": lag,
    }


def _stats(**topics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"topics": {name: {"partitions": parts} for name, parts in topics.items()}}


def test_assigned_partitions_and_lag_count_only_the_input_partitions_this_instance_has() -> None:
    progress = Progress("route", 1)
    progress.absorb(
        {
            "topics": {
                SOURCE: {
                    "partitions": {
                        "0": _partition(True, 18, 18),  # caught up, past a commit marker
                        "3": _partition(True, 10, 25),
                        "5": _partition(False, -1001, 40),  # another instance's
                        "-1": _partition(True, -1, -1),  # librdkafka's internal UA partition
                    }
                },
                "p.intel.other": {"partitions": {"0": _partition(True, 0, 99)}},
            }
        },
        SOURCE,
    )
    assert progress.partitions == [0, 3]
    assert progress.lag == 15
    assert progress.restoring == {}


def test_lag_falls_back_to_librdkafkas_before_the_first_record() -> None:
    progress = Progress("route", 1)
    progress.absorb(_stats(**{SOURCE: {"2": _partition(True, -1001, 30, lag=30)}}), SOURCE)
    assert progress.lag == 30
    progress.absorb(_stats(**{SOURCE: {"2": _partition(True, -1001, -1, lag=-1)}}), SOURCE)
    assert progress.lag == 0


def test_a_changelog_partition_being_read_is_state_restore_progress() -> None:
    progress = Progress("enrich", 2)
    progress.absorb(
        _stats(
            **{SOURCE: {"0": _partition(True, 5, 5)}, CHANGELOG: {"0": _partition(True, 40, 100)}}
        ),
        SOURCE,
    )
    assert progress.restoring == {f"{CHANGELOG}[0]": 60}
    progress.absorb(_stats(**{SOURCE: {"0": _partition(True, 5, 5)}}), SOURCE)
    assert progress.restoring == {}, "a finished restore no longer shows"


def test_a_revoked_partition_leaves_the_figures() -> None:
    progress = Progress("route", 1)
    progress.absorb(_stats(**{SOURCE: {"0": _partition(True, 1, 4)}}), SOURCE)
    progress.absorb(_stats(**{SOURCE: {"0": _partition(False, 1, 4)}}), SOURCE)
    assert progress.partitions == []
    assert progress.lag == 0


def test_commits_are_counted_and_timed() -> None:
    progress = Progress("route", 1)
    progress.committed(0.25)
    progress.committed(0.05)
    assert progress.commits == 2
    assert abs(progress.commit_seconds - 0.30) < 1e-9
    assert progress.last_commit > 0


def test_status_and_metrics_show_each_instance(tmp_path: Path) -> None:
    wanted = [("route", 1), ("route", 2)]
    first = Progress("route", 1, started=True, processed=7, disclosures={"kz-police": 7})
    first.partitions, first.lag = [0, 1, 2], 4
    first.committed(0.5)
    ProgressWriter(tmp_path, first).write()  # instance 2 has written nothing yet

    status = read_status(tmp_path, wanted)
    assert status["ready"] is False
    assert status["processed"] == {"route": 7}
    by_instance = {i["instance"]: i for i in status["instances"]}
    assert by_instance[1]["partitions"] == [0, 1, 2]
    assert by_instance[1]["lag"] == 4
    assert by_instance[2]["started"] is False

    registry = CollectorRegistry()
    registry.register(_Collector(tmp_path, wanted))
    samples = {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert samples[("intelshare_lag", ("route", "1"))] == 4
    assert samples[("intelshare_assigned_partitions", ("route", "1"))] == 3
    assert samples[("intelshare_commit_seconds_count", ("route", "1"))] == 1
    assert samples[("intelshare_commit_seconds_sum", ("route", "1"))] == 0.5
    assert samples[("intelshare_disclosures_total", ("kz-police",))] == 7
    assert samples[("intelshare_agent_up", ("route", "2"))] == 0


def test_the_status_server_refuses_plain_http_off_loopback(tmp_path: Path) -> None:
    """The worker's status page follows the oversight page's rule: plain HTTP on 127.0.0.1;
    another INTELSHARE_WEB_HOST without a certificate is refused naming the two settings
    (unless INTELSHARE_WEB_ALLOW_HTTP, for a container); with one it serves HTTPS."""
    from streams.core.certs import CertStore, Kind
    from streams.errors import ConfigError

    assert status_listening(Settings()).context is None
    with pytest.raises(ConfigError, match=r"will not serve plain HTTP on 192\.0\.2\.10") as no:
        status_listening(Settings(web_host="192.0.2.10"))
    assert "INTELSHARE_HTTPS_CERTFILE and INTELSHARE_HTTPS_KEYFILE" in str(no.value)
    assert "INTELSHARE_WEB_HOST=127.0.0.1" in str(no.value)
    container = Settings(web_host="0.0.0.0", web_allow_http=True)  # noqa: S104
    assert status_listening(container).context is None
    store = CertStore(tmp_path / "certs")
    store.init("test CA", datetime.now(UTC))
    cert = store.issue(Kind.NODE, "worker", ["worker.example.org"], datetime.now(UTC))
    secured = Settings(web_host="worker.example.org", https_certfile=cert,
                       https_keyfile=store.key_of("worker"))  # fmt: skip
    served = status_listening(secured)
    assert served.context is not None
    assert served.url(6066, "/status") == "https://worker.example.org:6066/status"
    with pytest.raises(ConfigError, match="both INTELSHARE_HTTPS_CERTFILE and"):
        status_listening(dataclasses.replace(secured, https_keyfile=None))


def test_the_status_server_serves_status_and_metrics_over_https(tmp_path: Path) -> None:
    """With a certificate of the exchange's CA, /status and /metrics answer over HTTPS to a
    client that trusts that CA; a plain HTTP request gets no page."""
    from ops.runtime import free_port
    from streams.core.certs import CertStore, Kind

    store = CertStore(tmp_path / "certs")
    store.init("test CA", datetime.now(UTC))
    cert = store.issue(Kind.NODE, "worker", ["127.0.0.1"], datetime.now(UTC))
    settings = Settings(home=tmp_path, https_certfile=cert, https_keyfile=store.key_of("worker"))
    ProgressWriter(tmp_path, Progress("intake", 1, started=True, processed=3)).write()
    port = free_port()
    where = status_listening(settings)
    server = StatusServer("127.0.0.1", port, tmp_path, [("intake", 1)], where.context)
    server.start()
    try:
        trusting = ssl.create_default_context(cafile=str(store.ca_cert))
        url = where.url(port)
        assert url == f"https://127.0.0.1:{port}/"
        assert json.loads(_get(f"{url}status", trusting))["processed"] == {"intake": 3}
        metrics = _get(f"{url}metrics", trusting)
        assert b'intelshare_processed_total{agent="intake",instance="1"} 3.0' in metrics
        with pytest.raises(urllib.error.URLError) as untrusted:  # trusting public CAs only
            _get(f"{url}status", ssl.create_default_context())
        assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
        with pytest.raises((OSError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5)
    finally:
        server.stop()


def _get(url: str, context: ssl.SSLContext) -> bytes:
    """The body at ``url``, an https:// address this module builds."""
    with urllib.request.urlopen(url, context=context, timeout=5) as answer:  # noqa: S310
        body: bytes = answer.read()
    return body


def test_the_worker_will_not_start_serving_plain_http_off_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`intelshare worker` with INTELSHARE_WEB_HOST=192.0.2.10 and no certificate exits 2
    before it looks for a broker or starts an agent, naming the settings to give."""
    from streams.cli import main

    monkeypatch.setenv("INTELSHARE_HOME", str(tmp_path))
    monkeypatch.setenv("INTELSHARE_WEB_HOST", "192.0.2.10")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # nothing there: not asked
    assert main(["worker"]) == 2
    said = capsys.readouterr().err
    assert "the worker's status page will not serve plain HTTP on 192.0.2.10" in said
    assert "INTELSHARE_HTTPS_CERTFILE" in said
    assert not (tmp_path / "run").exists()
