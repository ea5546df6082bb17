"""``ops/bench --json`` on the test broker: a small run prints one JSON object with every figure
issue 9 asks for, the broker's floor measured by Kafka's own tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

FIELDS = {
    "reports", "disclosures", "pipeline_reports_per_s", "cpu_us_per_report", "latency_p50_ms",
    "latency_p95_ms", "latency_p99_ms", "broker_floor_produce_per_s",
    "broker_floor_consume_per_s", "client_floor_per_s", "pipeline_over_broker_floor",
    "route_instances", "rate",
}  # fmt: skip


@pytest.mark.timeout(240)
def test_bench_prints_every_figure_as_one_json_object(kafka_bootstrap: str, tmp_path: Path) -> None:
    """60 reports, three disclosures each, and small floors: stdout is the JSON alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")}
    env |= {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "INTELSHARE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "ops.bench", "--reports", "60", "--json"]
    done = subprocess.run(
        [*command, "--floor-records", "5000"], env=env, cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=230, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert FIELDS - set(figures) == set()
    assert (figures["reports"], figures["disclosures"]) == (60, 180)
    assert (figures["route_instances"], figures["rate"]) == (1, 0)
    assert figures["cpu_us_per_report"] > 0
    assert figures["broker_floor_produce_per_s"] > 0
    assert 0 < figures["pipeline_over_broker_floor"] < 1
