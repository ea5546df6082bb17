"""What each agent process reports, and the worker's status page and metrics over it.

Every agent process writes its :class:`Progress` to ``$INTELSHARE_HOME/run/<agent>-<n>.json``
twice a second; the worker that started them serves ``GET /status`` (JSON: ready, processed per
agent, and per instance its assigned partitions, lag, commits and state restore) and
``GET /metrics`` (Prometheus text, with prometheus-client) on 127.0.0.1:``web_port``.
Files, not sockets, so a crashed agent's last figures stay readable.

On any address but a loopback one (``INTELSHARE_WEB_HOST``) the server speaks HTTPS only, from
``INTELSHARE_HTTPS_CERTFILE`` and ``INTELSHARE_HTTPS_KEYFILE``, and refuses to start without
them (:func:`status_listening`), as the oversight page does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from streams.i18n import msg
from streams.settings import Settings
from streams.web.https import Listening, listening_at

__all__ = ["Progress", "StatusServer", "read_status", "run_folder", "status_listening"]


@dataclasses.dataclass
class Progress:
    """One agent instance's figures; written by its process, read by the worker."""

    agent: str
    instance: int
    started: bool = False
    """True once its views are caught up and its application runs."""
    processed: int = 0
    """Input records processed (committed or about to be)."""
    dead_letters: int = 0
    """Dead letters it wrote."""
    disclosures: dict[str, int] = dataclasses.field(default_factory=dict)
    """Disclosures per recipient (route)."""
    views: dict[str, int] = dataclasses.field(default_factory=dict)
    """Keys in each reference view it follows."""
    partitions: list[int] = dataclasses.field(default_factory=list)
    """Partitions of its input assigned to this instance now."""
    lag: int = 0
    """Records on its assigned input partitions not yet processed (read_committed end)."""
    restoring: dict[str, int] = dataclasses.field(default_factory=dict)
    """State being restored: records left per changelog partition ("topic[p]"); empty when
    none is."""
    commits: int = 0
    """Checkpoints committed (each one Kafka transaction)."""
    commit_seconds: float = 0.0
    """Time spent committing them, in total."""
    last_commit: float = 0.0
    """When the last one committed (epoch seconds; 0 before the first)."""
    updated: float = 0.0
    """When this was written (epoch seconds)."""

    def committed(self, seconds: float) -> None:
        """Count one checkpoint commit that took ``seconds``."""
        self.commits += 1
        self.commit_seconds += seconds
        self.last_commit = time.time()

    def absorb(self, stats: dict[str, Any], source: str) -> None:
        """Take assignment, lag and restore progress from librdkafka's consumer statistics
        (``statistics.interval.ms``; the fields are librdkafka's STATISTICS.md)."""
        partitions: list[int] = []
        lag = 0
        restoring: dict[str, int] = {}
        for topic, figures in stats.get("topics", {}).items():
            for number, partition in figures.get("partitions", {}).items():
                if int(number) < 0 or not partition.get("desired"):
                    continue
                behind = _behind(partition)
                if topic == source:
                    partitions.append(int(number))
                    lag += behind
                elif topic.startswith(CHANGELOG_PREFIX):
                    restoring[f"{topic}[{number}]"] = behind
        self.partitions, self.lag, self.restoring = sorted(partitions), lag, restoring


def _behind(partition: dict[str, Any]) -> int:
    """Records between what the consumer handed to the agent and the last stable offset.

    Not librdkafka's ``consumer_lag``: it counts from the committed offset the consumer knows,
    and offsets committed in a transaction (as every checkpoint is) never update it."""
    end, position = int(partition.get("ls_offset", -1)), int(partition.get("app_offset", -1))
    if end < 0 or position < 0:
        return max(int(partition.get("consumer_lag", 0)), 0)
    return max(end - position, 0)


CHANGELOG_PREFIX = "changelog__"
"""How quixstreams names the changelog topics of state stores."""


def run_folder(home: Path) -> Path:
    """Where agent processes write their progress."""
    return home / "run"


class ProgressWriter(threading.Thread):
    """Writes one :class:`Progress` to its file twice a second, atomically."""

    def __init__(self, home: Path, progress: Progress) -> None:
        super().__init__(name="progress", daemon=True)
        self.progress = progress
        self.path = run_folder(home) / f"{progress.agent}-{progress.instance}.json"
        self.stopping = threading.Event()

    def write(self) -> None:
        """Write the figures now."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.progress.updated = time.time()
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(dataclasses.asdict(self.progress)))
        os.replace(temporary, self.path)

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            self.write()

    def stop(self) -> None:
        """Write a last time and stop."""
        self.stopping.set()
        self.write()


def _progresses(folder: Path, wanted: list[tuple[str, int]]) -> Iterator[Progress]:
    for agent, instance in wanted:
        try:
            raw = json.loads((folder / f"{agent}-{instance}.json").read_text())
            yield Progress(**raw)
        except (OSError, ValueError, TypeError):
            yield Progress(agent, instance)


def read_status(home: Path, wanted: list[tuple[str, int]]) -> dict[str, Any]:
    """The status page: ready when every wanted agent instance runs, and their figures."""
    found = list(_progresses(run_folder(home), wanted))
    processed: dict[str, int] = {}
    views: dict[str, int] = {}
    for progress in found:
        processed[progress.agent] = processed.get(progress.agent, 0) + progress.processed
        views |= progress.views
    return {
        "ready": all(p.started for p in found),
        "processed": processed,
        **views,
        "instances": [
            {k: v for k, v in dataclasses.asdict(p).items() if k != "updated"} for p in found
        ],
    }


_INSTANCE_METRICS: tuple[tuple[type[Any], str, str, Callable[[Progress], float]], ...] = (
    (CounterMetricFamily, "intelshare_processed", "Input records processed",
     lambda p: p.processed),
    (CounterMetricFamily, "intelshare_dead_letters", "Dead letters written",
     lambda p: p.dead_letters),
    (GaugeMetricFamily, "intelshare_agent_up", "1 when the agent runs",
     lambda p: 1.0 if p.started else 0.0),
    (GaugeMetricFamily, "intelshare_lag", "Input records not yet processed", lambda p: p.lag),
    (GaugeMetricFamily, "intelshare_assigned_partitions", "Input partitions assigned",
     lambda p: len(p.partitions)),
    (GaugeMetricFamily, "intelshare_restore_remaining",
     "State changelog records left to restore", lambda p: sum(p.restoring.values())),
    (GaugeMetricFamily, "intelshare_last_commit_timestamp_seconds",
     "When the last checkpoint committed", lambda p: p.last_commit),
)  # fmt: skip
"""Per agent instance: the metric's kind, name, help and how to read it from a Progress."""
_LABELS = ["agent", "instance"]


class _Collector(Collector):
    def __init__(self, home: Path, wanted: list[tuple[str, int]]) -> None:
        self.home = home
        self.wanted = wanted

    def collect(self) -> Iterator[Any]:
        found = list(_progresses(run_folder(self.home), self.wanted))
        for kind, name, text, read in _INSTANCE_METRICS:
            family = kind(name, text, labels=_LABELS)
            for p in found:
                family.add_metric([p.agent, str(p.instance)], read(p))
            yield family
        commits = SummaryMetricFamily(
            "intelshare_commit_seconds",
            "Checkpoint commits (one Kafka transaction each) and their duration",
            labels=_LABELS,
        )
        for p in found:
            labels = [p.agent, str(p.instance)]
            commits.add_metric(labels, count_value=p.commits, sum_value=p.commit_seconds)
        yield commits
        disclosed = CounterMetricFamily(
            "intelshare_disclosures", "Disclosures written", labels=["recipient"]
        )
        totals: dict[str, int] = {}
        for p in found:
            for recipient, count in p.disclosures.items():
                totals[recipient] = totals.get(recipient, 0) + count
        for recipient, count in sorted(totals.items()):
            disclosed.add_metric([recipient], count)
        yield disclosed


def status_listening(settings: Settings) -> Listening:
    """Where and how the worker's status server listens: plain HTTP on a loopback
    ``web_host``; HTTPS from ``https_certfile`` and ``https_keyfile`` when they are given; on
    any other address without them it refuses (:class:`ConfigError`), unless ``web_allow_http``
    says a container's published port is on its host's loopback only."""
    cert, key = settings.https_certfile, settings.https_keyfile
    if settings.web_allow_http and cert is None and key is None:
        return Listening(settings.web_host, None, ())
    return listening_at(
        settings.web_host, cert, key,
        server=msg("the worker's status page"),
        options=("INTELSHARE_HTTPS_CERTFILE", "INTELSHARE_HTTPS_KEYFILE"),
        plain_hint=msg("set INTELSHARE_WEB_HOST=127.0.0.1"),
    )  # fmt: skip


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that fails the TLS handshake or hangs up is no error of the server's:
        nothing on stderr (http.server would print a traceback)."""
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            super().handle_error(request, client_address)


class StatusServer(threading.Thread):
    """``/status`` and ``/metrics`` of a worker, from its agents' progress files; over HTTPS
    when given a TLS ``context``."""

    def __init__(
        self,
        host: str,
        port: int,
        home: Path,
        wanted: list[tuple[str, int]],
        context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(name="status", daemon=True)
        registry = CollectorRegistry()
        registry.register(_Collector(home, wanted))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                if self.path.rstrip("/") in ("", "/status"):
                    body = json.dumps(read_status(home, wanted)).encode()
                    kind = "application/json"
                elif self.path.rstrip("/") == "/metrics":
                    body, kind = generate_latest(registry), "text/plain; version=0.0.4"
                else:
                    self.send_error(404, "try /status or /metrics")
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # no access log

        self.server = _Server((host, port), Handler)
        if context is not None:  # the handshake on the request's first read, in its thread
            self.server.socket = context.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )

    def run(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
