"""Crash test: kill -9 the route worker in the middle of a stream of reports, restart it.

Afterwards every report is disclosed exactly once as a read_committed consumer sees it, the
audit chain has exactly one record per disclosure, and it verifies. A kill of the whole worker
mid-stream is test_engine's (a restarted worker resumes, exactly once); of one agent, test_engine's
and ops/chaos's; of the broker, ops/chaos's.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tests.factories import incident
from tests.integration.exchange import Exchange, agreement, facility, wait_until
from tests.integration.helpers import committed_count

pytestmark = pytest.mark.integration


def test_route_in_its_own_process_killed_mid_stream(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Agents split over two workers; kill -9 the route worker mid-stream: still exactly once."""
    from tests.integration.worker import Worker

    x = Exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    x.agency("c-one")
    x.reference([facility("KZ-F-1", "KZ")])
    x.agreements([agreement("C-1", "c-one")])
    x.worker.env["INTELSHARE_WORKER_AGENTS"] = "intake,enrich,sequencer"
    route = Worker(x.env | {"INTELSHARE_WORKER_AGENTS": "route"}, tmp_path / "route")
    (tmp_path / "route").mkdir()
    x.worker.start()
    route.start()
    reports = [incident(facility_id="KZ-F-1", narrative=f"split {i}") for i in range(1000)]
    audit_topic = x.settings.topic_prefix + "intel.audit"

    def audited() -> int:
        return committed_count(x.settings, audit_topic)

    x.submit(reports[:400])
    wait_until(lambda: audited() >= 400, timeout=240, what="the first 400 audit records")
    x.submit(reports[400:])  # the route worker is busy with these when it is killed
    route.kill()
    killed_at = audited()
    route.start()
    wait_until(lambda: audited() >= len(reports), timeout=300, what="every audit record")
    route.stop()
    x.worker.stop()

    disclosed = Counter(d["event_id"] for d in x.feed("c-one"))
    assert set(disclosed) == {r["event_id"] for r in reports}
    assert max(disclosed.values()) == 1
    assert x.verify_audit() == len(reports)
    assert killed_at < len(reports)
