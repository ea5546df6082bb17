"""ops/chaos, short: one of each fault (kill -9 of the worker, of one agent, of the broker, and
of both with a worker started while the broker is down), then nothing lost, nothing doubled,
audit equal to the feeds and the chain sound, as its own read_committed consumers see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_every_fault_once_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """Four rounds of 100 reports (three disclosures each), one fault per round, on a broker
    of the command's own (it kills it): 1,200 disclosures, each once, each audited once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env["INTELSHARE_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ops.chaos", "--rounds", "4", "--reports", "100", "--json"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["faults"] == {"worker": 1, "agent": 1, "broker": 1, "cold": 1}
    assert figures["faults_mid_stream"] >= 1, figures
    assert figures["expected_disclosures"] == 1200
    assert figures["delivered"] == 1200
    assert (figures["lost"], figures["duplicated"], figures["unexpected"]) == (0, 0, 0)
    assert figures["audit_records"] == 1200
    assert figures["audit_equals_feeds"] is True
    assert figures["chain_sound"] is True
