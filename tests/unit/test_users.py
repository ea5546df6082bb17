"""The ACLs of each role: plain data, checked without a broker."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from streams.errors import ConfigError
from streams.kafka.users import Grant, Role, grants_for
from streams.settings import Settings


def _topics(grants: list[Grant]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for grant in grants:
        if grant.resource == "topic":
            found.setdefault(grant.name, set()).add(grant.operation)
    return found


def test_unit_may_only_write_submissions() -> None:
    """A unit gets write and describe on intel.submissions, and nothing else."""
    grants = grants_for(Role.UNIT, "unit-a", "p.")
    assert _topics(grants) == {"p.intel.submissions": {"write", "describe"}}
    assert all(g.resource == "topic" and not g.prefixed for g in grants)


def test_agency_may_only_read_its_own_feed_with_its_own_group() -> None:
    """An agency reads intel.feed.<its id>, commits as intelshare-agency-<its id>, and may
    only write its signed consultation receipts."""
    grants = grants_for(Role.AGENCY, "agency-a", "p.")
    assert _topics(grants) == {
        "p.intel.feed.agency-a": {"read", "describe"},
        "p.intel.receipts": {"write", "describe"},
    }
    groups = [g for g in grants if g.resource == "group"]
    assert groups == [Grant("group", "p.intelshare-agency-agency-a", False, "read")]
    assert not any(g.prefixed for g in grants)


def test_oversight_may_only_read_the_audit_log() -> None:
    """Oversight reads intel.audit, its checkpoints, the receipts and the agencies' public
    keys; it reads no feed and can write nothing."""
    grants = grants_for(Role.OVERSIGHT, "body", "")
    assert _topics(grants) == {
        "intel.audit": {"read", "describe"},
        "intel.audit.checkpoints": {"read", "describe"},
        "intel.receipts": {"read", "describe"},
        "intel.ref.agencies": {"read", "describe"},
    }
    assert not any(g.operation in {"write", "idempotent_write"} for g in grants)


def test_worker_gets_what_the_agents_need_but_no_cluster_admin() -> None:
    """The worker reads and writes intel.*, commits intelshare-* groups, uses transactions."""
    grants = set(grants_for(Role.WORKER, "worker", "p."))
    assert Grant("topic", "p.intel.", True, "write") in grants
    assert Grant("group", "p.intelshare-", True, "read") in grants
    assert Grant("transactional_id", "p.intelshare-", True, "write") in grants
    assert Grant("cluster", "kafka-cluster", False, "idempotent_write") in grants
    assert not any(g.operation in {"all", "alter", "create", "delete"} for g in grants)


@pytest.mark.parametrize("name", ["", "Agency", "../x", "a b", "a" * 64])
def test_unsafe_user_names_are_refused(name: str) -> None:
    """A name that would make an unsafe topic, group or file name is a configuration error."""
    with pytest.raises(ConfigError):
        grants_for(Role.AGENCY, name)


def test_sasl_settings_become_client_keywords(tmp_path: Path) -> None:
    """SASL_PLAINTEXT gives SCRAM-SHA-512 and the password from its file; repr hides secrets."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    settings = Settings.load(
        {
            "INTELSHARE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "INTELSHARE_SASL_USERNAME": "unit-a",
            "INTELSHARE_SASL_PASSWORD_FILE": str(secret),
        },
        config_file=tmp_path / "none.toml",
    )
    assert settings.kafka_security() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "unit-a",
        "sasl_plain_password": "s3cret",
    }
    assert "s3cret" not in repr(dataclasses.replace(settings, sasl_password="s3cret"))
    assert Settings().kafka_security() == {"security_protocol": "PLAINTEXT"}
    with pytest.raises(ConfigError, match="INTELSHARE_SASL_PASSWORD"):
        dataclasses.replace(settings, sasl_password_file=None).kafka_security()
