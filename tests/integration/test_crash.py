"""Crash test: kill -9 the worker in the middle of a stream of reports, restart it.

Afterwards every eligible (report, agreement) pair is disclosed exactly once as a
read_committed consumer sees it, the audit chain has exactly one record per disclosure, and
it verifies.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from tests.factories import incident
from tests.integration.exchange import Exchange, agreement, facility, wait_until
from tests.integration.helpers import committed_count

pytestmark = pytest.mark.integration

REPORTS = 2000


def test_kill_nine_mid_stream_discloses_each_pair_exactly_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two kills during 2,000 reports: 4,000 disclosures, each once, each audited once."""
    x = Exchange(kafka_bootstrap, tmp_path, dict(os.environ))
    for agency in ("c-one", "c-two"):
        x.agency(agency)
    x.reference([facility("KZ-F-1", "KZ")])
    x.agreements([agreement("C-1", "c-one"), agreement("C-2", "c-two")])
    reports = [
        incident(facility_id="KZ-F-1", narrative=f"report {i} {uuid.uuid4()}")
        for i in range(REPORTS)
    ]
    expected = {(r["event_id"], a) for r in reports for a in ("C-1", "C-2")}
    audit_topic = x.settings.topic_prefix + "intel.audit"

    def audited() -> int:
        return committed_count(x.settings, audit_topic)

    seen = [0]  # the committed audit records the last check counted

    def audited_above(count: int) -> bool:
        seen[0] = audited()
        return seen[0] > count

    x.worker.start()
    x.submit(reports)
    at_kill: list[int] = []  # audit records committed when each kill -9 came
    # The first kill once a sixth is audited; the second as soon as the restarted worker
    # has committed anything more, so that both land while most of the stream is ahead.
    for threshold in (len(expected) // 6, None):
        wait_until(
            partial(audited_above, threshold if threshold is not None else at_kill[-1]),
            timeout=240,
            what="progress on the audit log",
        )
        at_kill.append(seen[0])
        x.worker.kill()
        x.worker.start()
    wait_until(lambda: audited() >= len(expected), timeout=300, what="every audit record")
    x.worker.stop()

    disclosed = Counter(
        (d["event_id"], d["agreement_id"]) for agency in ("c-one", "c-two") for d in x.feed(agency)
    )
    assert set(disclosed) == expected
    assert max(disclosed.values()) == 1
    audit = x.audit(expect=len(expected))
    assert len(audit) == len(expected)
    assert x.verify_audit() == len(expected)
    feed_ids = {d["disclosure_id"] for agency in ("c-one", "c-two") for d in x.feed(agency)}
    assert {record["disclosure_id"] for record in audit} == feed_ids
    assert x.worker.starts == 3
    assert len(at_kill) == 2, at_kill
    assert all(0 < count < len(expected) for count in at_kill), at_kill  # mid-stream


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
    reports = [incident(facility_id="KZ-F-1", narrative=f"split {i}") for i in range(2000)]
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
