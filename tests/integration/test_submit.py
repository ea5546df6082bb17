"""Submitting reports to a real broker: what reaches intel.submissions, and what never does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.core.codec import Codec
from streams.core.report import report_to_json
from streams.core.schemas import SchemaSet
from streams.settings import PROJECT_ROOT, Settings
from tests.factories import incident, observation
from tests.integration.helpers import read_all, run_cli

pytestmark = pytest.mark.integration

EXAMPLES = PROJECT_ROOT / "ops" / "examples"


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(SchemaSet.from_directory(PROJECT_ROOT / "schemas"), "intelshare.Report")


def write_lines(path: Path, reports: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in reports) + "\n")
    return path


def test_submitted_file_reads_back_equal(
    topics: Settings, cli_env: dict[str, str], codec: Codec
) -> None:
    """Every example report reaches intel.submissions keyed by event_id and decodes to the input."""
    source = EXAMPLES / "reports.jsonl"
    reports = [json.loads(line) for line in source.read_text().splitlines()]
    done = run_cli("submit", str(source), env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [r["event_id"] for r in reports]

    records = read_all(topics, topics.topic_prefix + "intel.submissions", expect=len(reports))
    by_id = {r["event_id"]: r for r in reports}
    assert len(records) == len(reports)
    for record in records:
        decoded = report_to_json(codec.decode(record.value))
        assert record.key.decode() == decoded["event_id"]
        assert decoded == by_id[decoded["event_id"]]


def test_stdin_array_is_accepted(topics: Settings, cli_env: dict[str, str]) -> None:
    """`submit -` reads a JSON array from standard input."""
    reports = [incident(), observation()]
    done = run_cli("submit", "-", env=cli_env, stdin=json.dumps(reports))
    assert done.returncode == 0, done.stderr
    assert len(read_all(topics, topics.topic_prefix + "intel.submissions", expect=2)) == 2


def test_same_event_id_twice_lands_on_one_partition(
    topics: Settings, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Submitting one event_id twice keys both copies alike, so dedup sees them in order.

    Within one input, an identical repeat is sent once.
    """
    report = incident()
    path = write_lines(tmp_path / "twice.jsonl", [report, report])
    first = run_cli("submit", str(path), env=cli_env)
    assert first.returncode == 0, first.stderr
    assert "repeated" in first.stderr
    assert run_cli("submit", str(path), env=cli_env).returncode == 0

    records = read_all(topics, topics.topic_prefix + "intel.submissions", expect=2)
    assert len(records) == 2
    assert {r.key.decode() for r in records} == {report["event_id"]}
    assert len({r.partition for r in records}) == 1


def test_rejected_reports_never_reach_the_topic(
    topics: Settings, cli_env: dict[str, str], codec: Codec, tmp_path: Path
) -> None:
    """Bad tlp, missing facility, 1 MiB narrative, broken JSON: rejected; the good one goes."""
    good = incident()
    missing = incident()
    del missing["facility_id"]
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [incident(tlp="PURPLE"), good, missing, incident(narrative="x" * 1024 * 1024)],
    )
    with path.open("a") as handle:
        handle.write('{"event_id": \n')
    done = run_cli("submit", str(path), env=cli_env)

    assert done.returncode == 1
    assert done.stdout.split() == [good["event_id"]]
    assert "line 1: tlp:" in done.stderr
    assert "line 3: facility_id: is required" in done.stderr
    assert "line 4: narrative:" in done.stderr
    assert "line 5: report: not valid JSON" in done.stderr
    records = read_all(topics, topics.topic_prefix + "intel.submissions", expect=1)
    assert [codec.decode(r.value)["event_id"] for r in records] == [good["event_id"]]


def test_conflicting_reuse_of_an_event_id_is_rejected(
    topics: Settings, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Two different reports under one event_id in one input: the second is rejected."""
    first = incident()
    second = incident(event_id=first["event_id"], narrative="something else")
    done = run_cli("submit", str(write_lines(tmp_path / "c.jsonl", [first, second])), env=cli_env)
    assert done.returncode == 1
    assert "event_id: is used for a different report" in done.stderr
    assert len(read_all(topics, topics.topic_prefix + "intel.submissions", expect=1)) == 1


def test_missing_topic_says_to_create_it(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Without the catalogue's topics, submit exits 2 and says to run `intelshare topics create`."""
    path = write_lines(tmp_path / "one.jsonl", [incident()])
    done = run_cli("submit", str(path), env=cli_env | {"INTELSHARE_REQUEST_TIMEOUT": "3"})
    assert done.returncode == 2
    assert "intelshare topics create" in done.stderr


def test_no_broker_says_to_start_one(cli_env: dict[str, str], tmp_path: Path) -> None:
    """With no broker at the address, submit exits 2 and says how to start one."""
    path = write_lines(tmp_path / "one.jsonl", [incident()])
    env = cli_env | {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "INTELSHARE_REQUEST_TIMEOUT": "2"}
    done = run_cli("submit", str(path), env=env)
    assert done.returncode == 2
    assert "intelshare broker start" in done.stderr


def test_unreadable_file_is_a_usage_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A missing or non-UTF-8 file exits 2 with the reason."""
    assert run_cli("submit", str(tmp_path / "absent.json"), env=cli_env).returncode == 2
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    done = run_cli("submit", str(binary), env=cli_env)
    assert done.returncode == 2
    assert "UTF-8" in done.stderr
