"""`intelshare topics create` on a real broker: every topic, the right configs, idempotent."""

from __future__ import annotations

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from streams.kafka.clients import admin_client
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


def test_audit_and_agreements_have_their_configs(
    settings: Settings, cli_env: dict[str, str]
) -> None:
    """The broker holds infinite retention on intel.audit and compaction on intel.agreements."""
    assert run_cli("topics", "create", env=cli_env).returncode == 0
    audit = settings.topic_prefix + "intel.audit"
    agreements = settings.topic_prefix + "intel.agreements"
    with admin_client(settings) as admin:
        described = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, audit),
                ConfigResource(ConfigResourceType.TOPIC, agreements),
            ]
        )
    configs = {
        name: {k: v["value"] for k, v in values.items()}
        for name, values in described["topic"].items()
    }
    assert configs[audit]["retention.ms"] == "-1"
    assert configs[agreements]["cleanup.policy"] == "compact"


def test_topics_create_without_broker_exits_2(cli_env: dict[str, str]) -> None:
    """No broker: exit 2 with a message that says how to start one."""
    env = cli_env | {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "INTELSHARE_REQUEST_TIMEOUT": "2"}
    done = run_cli("topics", "create", env=env)
    assert done.returncode == 2
    assert "intelshare broker start" in done.stderr
