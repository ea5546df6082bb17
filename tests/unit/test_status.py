"""An agent instance's figures from librdkafka's statistics, and the worker's /metrics over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.status import Progress, ProgressWriter, _Collector, read_status

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
