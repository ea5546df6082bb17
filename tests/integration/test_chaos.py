"""``ops/chaos`` in short: four rounds, one of each fault (kill -9 of the worker, of one agent,
of the broker, and of the broker and the worker with a new worker started while the broker is
down), then the command's own read_committed check. Nothing lost, nothing doubled, the audit
log equal to the feeds, the chain sound; exit 0 and one JSON object on stdout.

The command starts, kills and restarts a broker of its own on free ports under this test's
home: the session's broker is not touched (``kafka_bootstrap`` only makes the run fail loudly
when no broker can start at all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.chaos import FAULTS
from streams.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

ROUNDS = 4
REPORTS = 60


@pytest.mark.timeout(600)
def test_four_faults_lose_and_double_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")}
    env |= {"INTELSHARE_HOME": str(tmp_path)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    done = subprocess.run(
        [sys.executable, "-m", "ops.chaos", "--rounds", str(ROUNDS), "--reports", str(REPORTS),
         "--json"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=590, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    figures = json.loads(done.stdout)
    print(figures)
    assert figures["faults"] == dict.fromkeys(FAULTS, 1)
    expected = ROUNDS * REPORTS * 3  # three agreements cover every report
    assert figures["expected_disclosures"] == figures["delivered"] == expected
    assert figures["audit_records"] == expected
    assert (figures["lost"], figures["duplicated"], figures["unexpected"]) == (0, 0, 0)
    assert figures["audit_equals_feeds"] is True
    assert figures["collections"] == ROUNDS * REPORTS  # one collection record per report
    assert figures["collected_once_each"] is True
    assert figures["chain_sound"] is True
