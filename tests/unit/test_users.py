"""The ACLs of each role: plain data, checked without a broker."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path
from typing import Any

import pytest

from streams.core.keyfiles import load_ed25519_private
from streams.errors import ConfigError, IntelshareError
from streams.kafka import users
from streams.kafka.users import Grant, Role, add_user, grants_for, register_unit
from streams.settings import Settings
from streams.topics import AGENT_NAMES, VIEW_GROUP
from tests.factories import NOW


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


def test_unit_reads_the_feedback_of_its_own_units_only() -> None:
    """A unit user reads intel.feedback.<unit> of each unit it speaks for, literally (no
    prefix that another unit's id could extend), and no other unit's."""
    grants = grants_for(Role.UNIT, "unit-a", "p.", ["KZ-PIU-A", "KZ-PIU-B"])
    assert _topics(grants) == {
        "p.intel.submissions": {"write", "describe"},
        "p.intel.feedback.KZ-PIU-A": {"read", "describe"},
        "p.intel.feedback.KZ-PIU-B": {"read", "describe"},
    }
    assert not any(g.prefixed for g in grants)


def test_agency_may_only_read_its_own_feed_with_its_own_group() -> None:
    """An agency reads intel.feed.<its id>, commits as intelshare-agency-<its id>, and may
    only write its signed consultation receipts."""
    grants = grants_for(Role.AGENCY, "agency-a", "p.")
    assert _topics(grants) == {
        "p.intel.feed.agency-a": {"read", "describe"},
        "p.intel.receipts": {"write", "describe"},
        "p.intel.audit.checkpoints": {"read", "describe"},
        "p.intel.feedback": {"write", "describe"},
    }
    groups = [g for g in grants if g.resource == "group"]
    assert groups == [Grant("group", "p.intelshare-agency-agency-a", False, "read")]
    assert not any(g.prefixed for g in grants)


def test_oversight_may_only_read_the_audit_log() -> None:
    """Oversight reads intel.audit, its checkpoints, the receipts, the agencies' public keys
    and the agreements (each disclosure's agreement status on the page), and each subject's
    commitment by oversight link (to find a subject's records until it is erased); it reads
    no feed, no subject's data key, and can write nothing."""
    grants = grants_for(Role.OVERSIGHT, "body", "")
    assert _topics(grants) == {
        "intel.agreements": {"read", "describe"},
        "intel.agreements.history": {"read", "describe"},
        "intel.audit": {"read", "describe"},
        "intel.audit.checkpoints": {"read", "describe"},
        "intel.audit.cosignatures": {"read", "describe"},
        "intel.receipts": {"read", "describe"},
        "intel.ref.agencies": {"read", "describe"},
        "intel.keys.commitments": {"read", "describe"},
    }
    assert not any(g.operation in {"write", "idempotent_write"} for g in grants)


def test_worker_gets_what_the_agents_need_but_no_cluster_admin() -> None:
    """The worker reads its inputs and views, writes its outputs, commits its own agents'
    groups and uses their transactional ids, and nothing else: it cannot rewrite agreements,
    reference data, agencies' keys or units, nor submit reports, nor read another's group."""
    grants = set(grants_for(Role.WORKER, "worker", "p."))
    topics: dict[tuple[str, bool], set[str]] = {}
    for g in grants:
        if g.resource == "topic":
            topics.setdefault((g.name, g.prefixed), set()).add(g.operation)
    table = {
        "p.intel.submissions": {"read", "describe", "describe_configs"},
        "p.intel.validated": {"read", "write", "describe", "describe_configs"},
        "p.intel.enriched": {"read", "write", "describe", "describe_configs"},
        "p.intel.audit.pending": {"read", "write", "describe", "describe_configs"},
        "p.intel.audit": {"write", "describe", "describe_configs"},
        "p.intel.audit.checkpoints": {"write", "describe", "describe_configs"},
        "p.intel.deadletter": {"write", "describe", "describe_configs"},
        "p.intel.agreements": {"read", "describe", "describe_configs"},
        "p.intel.ref.facilities": {"read", "describe", "describe_configs"},
        "p.intel.ref.subjects": {"read", "describe", "describe_configs"},
        "p.intel.ref.agencies": {"read", "describe", "describe_configs"},
        "p.intel.ref.units": {"read", "describe", "describe_configs"},
        "p.intel.keys.subjects": {"read", "write", "describe", "describe_configs"},
        "p.intel.keys.commitments": {"write", "describe", "describe_configs"},
        "p.intel.feedback": {"read", "describe", "describe_configs"},
        "p.intel.ref.unitkeys": {"read", "describe", "describe_configs"},
        # issue 13: route records each consultation from the agencies' receipts
        "p.intel.receipts": {"read", "describe", "describe_configs"},
    }
    assert {name: ops for (name, prefixed), ops in topics.items() if not prefixed} == table
    assert topics[("p.intel.feed.", True)] == {"write", "describe"}
    assert topics[("p.intel.feedback.", True)] == {"write", "describe"}  # units' feedback
    assert topics[("changelog__p.intelshare-", True)] == {
        "read", "write", "describe", "describe_configs", "create"
    }  # fmt: skip
    assert len(topics) == len(table) + 3  # nothing prefixed on intel.
    groups = {(g.name, g.prefixed) for g in grants if g.resource == "group"}
    assert groups == {(f"p.intelshare-{a}", False) for a in AGENT_NAMES} | {(VIEW_GROUP, False)}
    transactional = {(g.name, g.prefixed) for g in grants if g.resource == "transactional_id"}
    assert transactional == {(f"p.intelshare-{a}-", True) for a in AGENT_NAMES}
    assert Grant("cluster", "kafka-cluster", False, "idempotent_write") in grants
    assert not any(g.operation in {"all", "alter", "delete"} for g in grants)


def test_the_granted_agents_are_the_worker_s_agents() -> None:
    """The names the worker's ACLs are cut to are the agents the worker runs."""
    from agents.worker import NAMES

    assert tuple(NAMES) == AGENT_NAMES


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


def test_a_unit_user_needs_at_least_one_valid_unit(tmp_path: Path) -> None:
    """`users add --role unit` without --unit, or with a unit id no report could carry, is a
    usage error before the broker is touched; --unit for another role is one too."""
    settings = Settings(home=tmp_path, bootstrap_servers="127.0.0.1:1", request_timeout=0.5)
    with pytest.raises(ConfigError, match="--unit UNIT_ID"):
        add_user(settings, Role.UNIT, "kz-piu-karaganda")
    with pytest.raises(ConfigError, match="unit_id"):
        add_user(settings, Role.UNIT, "kz-piu-karaganda", ["KZ PIU"])
    with pytest.raises(ConfigError, match="role unit only"):
        add_user(settings, Role.AGENCY, "kz-knb", ["KZ-PIU-KARAGANDA"])


def test_registering_a_unit_writes_its_key_and_record_and_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """register_unit writes NAME.sign.key (0600) and publishes a record with its public key;
    running it again replaces both; a failed publish keeps the old key."""
    published: list[dict[str, Any]] = []
    monkeypatch.setattr(users, "publish_unit", lambda settings, record: published.append(record))
    settings = Settings(home=tmp_path)
    path = register_unit(settings, "kz-piu-karaganda", ["KZ-PIU-KARAGANDA"], NOW)
    assert path == tmp_path / "secrets" / "users" / "kz-piu-karaganda.sign.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = load_ed25519_private(path).public_key().public_bytes_raw()
    assert published[-1]["public_key"] == first
    assert published[-1]["units"] == ["KZ-PIU-KARAGANDA"]
    assert published[-1]["user"] == "kz-piu-karaganda"

    register_unit(settings, "kz-piu-karaganda", ["KZ-PIU-KARAGANDA", "KZ-PIU-ASTANA"], NOW)
    second = load_ed25519_private(path).public_key().public_bytes_raw()
    assert second != first
    assert published[-1]["public_key"] == second
    assert published[-1]["key_id"] != published[0]["key_id"]

    def refuse(settings: Settings, record: dict[str, Any]) -> None:
        raise IntelshareError("broker said no")

    monkeypatch.setattr(users, "publish_unit", refuse)
    with pytest.raises(IntelshareError):
        register_unit(settings, "kz-piu-karaganda", ["KZ-PIU-KARAGANDA"], NOW)
    assert load_ed25519_private(path).public_key().public_bytes_raw() == second
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "kz-piu-karaganda.sign.key",
        "kz-piu-karaganda.sign.pub",
    ]
