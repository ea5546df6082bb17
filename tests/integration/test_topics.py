"""`intelshare topics create` on a real broker: every topic, the right configs, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from streams.core.times import format_time
from streams.kafka.clients import admin_client, producer
from streams.settings import Settings
from streams.topics import CATALOGUE, INTERNAL
from tests.integration.helpers import run_cli

pytestmark = pytest.mark.integration


def test_create_is_idempotent_and_matches_the_catalogue(
    settings: Settings, cli_env: dict[str, str]
) -> None:
    """First run creates every topic, the second finds them all; partitions are as catalogued."""
    first = run_cli("topics", "create", env=cli_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("\tcreated\t") == len(CATALOGUE + INTERNAL)
    second = run_cli("topics", "create", env=cli_env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("\texists\t") == len(CATALOGUE + INTERNAL)
    for spec in CATALOGUE + INTERNAL:
        assert (
            f"{settings.topic_prefix}{spec.name}\texists\tpartitions={spec.partitions}"
            in second.stdout
        )


def test_topics_create_without_broker_exits_2(cli_env: dict[str, str]) -> None:
    """No broker: exit 2 with a message that says how to start one."""
    env = cli_env | {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "INTELSHARE_REQUEST_TIMEOUT": "2"}
    done = run_cli("topics", "create", env=env)
    assert done.returncode == 2
    assert "intelshare broker start" in done.stderr


def test_retention_settings_reach_topics_and_the_report(
    settings: Settings, cli_env: dict[str, str]
) -> None:
    """Retention settings are applied when topics are created and again, idempotently, to
    existing ones; `retention report` lists every topic with its oldest record (and the
    broker holds infinite retention on intel.audit, compaction on intel.agreements)."""
    env = cli_env | {"INTELSHARE_RETENTION_INTERMEDIATE_DAYS": "3"}
    assert run_cli("topics", "create", env=env).returncode == 0
    submissions = settings.topic_prefix + "intel.submissions"
    deadletter = settings.topic_prefix + "intel.deadletter"
    with admin_client(settings) as admin:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, submissions)])[
            "topic"
        ][submissions]
    assert described["retention.ms"]["value"] == str(3 * 86_400_000)
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    publisher = producer(settings)
    publisher.send(
        submissions, key=b"k", value=b"v", partition=5, timestamp_ms=int(sent_at.timestamp() * 1000)
    ).get(timeout=10)
    publisher.close()

    report = run_cli("retention", "report", env=env)
    assert report.returncode == 0, report.stderr
    lines = {line.split("\t")[0]: line for line in report.stdout.splitlines()}
    assert set(lines) == {settings.topic_prefix + s.name for s in CATALOGUE + INTERNAL}
    assert lines[submissions] == (
        f"{submissions}\tcleanup.policy=delete\tretention=3d\toldest={format_time(sent_at)}"
    )
    assert lines[deadletter].endswith("\tretention=14d\toldest=empty")
    audit, agreements = (settings.topic_prefix + n for n in ("intel.audit", "intel.agreements"))
    assert "\tcleanup.policy=delete\tretention=forever\t" in lines[audit]
    assert "\tcleanup.policy=compact\t" in lines[agreements]

    shorter = cli_env | {"INTELSHARE_RETENTION_INTERMEDIATE_DAYS": "2"}
    again = run_cli("topics", "create", env=shorter)
    assert again.returncode == 0, again.stderr
    changed = [line for line in again.stdout.splitlines() if "\tchanged\t" in line]
    assert sorted(changed) == sorted(
        f"{settings.topic_prefix}{name}\tchanged\tretention.ms={2 * 86_400_000} "
        f"(was {3 * 86_400_000})"
        for name in ("intel.submissions", "intel.validated", "intel.enriched", "intel.feedback")
    )
    assert "\tchanged\t" not in run_cli("topics", "create", env=shorter).stdout
