"""A secure broker (SASL/SCRAM-SHA-512, StandardAuthorizer) and the ACLs of each role.

One secure broker for the package (tests/integration/secure_broker.py), on its own ports and
home, so the session's plaintext broker and its tests are untouched. If it cannot start the
tests fail with the reason; they never skip.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import kafka.errors
import pytest

from streams.errors import AuthenticationFailedError, NotAuthorisedError
from streams.kafka.clients import (
    admin_client,
    consumer,
    producer,
    publish,
    read_topic,
    translate_errors,
)
from streams.kafka.topics import create_topics
from streams.kafka.users import Role, add_user
from streams.settings import Settings
from streams.topics import CATALOGUE, feed_spec, unit_feedback_spec
from tests.integration.exchange import wait_until
from tests.integration.helpers import run_cli
from tests.integration.secure_broker import PREFIX
from tests.integration.secure_exchange import SecureExchange

# The module's secure broker is the package's (conftest.py, secure_broker.py): these tests use
# its SASL_PLAINTEXT listener; test_tls.py its TLS ones.


def _as(admin: Settings, role: Role, name: str, units: tuple[str, ...] = ()) -> Settings:
    """Settings of a new user ``name`` with ``role`` (and, for a unit, ``units``), created by
    the admin."""
    path = add_user(admin, role, name, units)
    return dataclasses.replace(admin, sasl_username=name, sasl_password="", sasl_password_file=path)


def _read(settings: Settings, topic: str, group: str, timeout: float = 8.0) -> list[bytes]:
    """The values of partition 0 of ``topic``, committed as ``group``; or the translated error.

    Partitions are assigned, not subscribed: kafka-python only logs a topic it may not see in
    metadata, while a refused fetch or offset lookup raises.
    """
    from kafka import TopicPartition

    client = consumer(settings, group_id=group)
    try:
        with translate_errors(settings, f"reading {topic}"):
            client.assign([TopicPartition(topic, 0)])
            values: list[bytes] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not values:
                for batch in client.poll(timeout_ms=300).values():
                    values.extend(record.value for record in batch)
            client.commit()
            return values
    finally:
        client.close()


def _put(settings: Settings, topic: str, value: bytes) -> None:
    """Write ``value`` to partition 0 of ``topic`` (where :func:`_read` looks)."""
    client = producer(settings)
    try:
        client.send(topic, value=value, partition=0).get(timeout=settings.request_timeout)
    finally:
        client.close()


def _feed(name: str) -> str:
    return f"{PREFIX}intel.feed.{name}"


def test_agency_reads_its_own_feed_but_not_another(secure_admin: Settings) -> None:
    """An agency's credentials read its feed with its group; another agency's feed is refused."""
    _put(secure_admin, _feed("agency-a"), b"for a")
    _put(secure_admin, _feed("agency-b"), b"for b")
    agency = _as(secure_admin, Role.AGENCY, "agency-a")
    group = f"{PREFIX}intelshare-agency-agency-a"
    assert _read(agency, _feed("agency-a"), group) == [b"for a"]
    with pytest.raises(NotAuthorisedError) as refused:
        _read(agency, _feed("agency-b"), group)
    assert isinstance(refused.value.__cause__, kafka.errors.TopicAuthorizationFailedError)


def test_unit_writes_submissions_and_reads_nothing(secure_admin: Settings) -> None:
    """A unit may write intel.submissions but read neither it, nor any feed, nor the units'
    registry."""
    unit = _as(secure_admin, Role.UNIT, "unit-a", ("UNIT-A",))
    assert publish(unit, f"{PREFIX}intel.submissions", [(b"k", b"report")]) == 1
    for topic in (f"{PREFIX}intel.submissions", _feed("agency-a"), f"{PREFIX}intel.ref.units"):
        with pytest.raises(NotAuthorisedError):
            _read(unit, topic, f"{PREFIX}intelshare-agency-agency-a")


def test_a_command_outside_its_role_is_told_it_is_not_authorised(secure_admin: Settings) -> None:
    """A unit reading the audit log (as `audit export` does) is told its user may not read
    it, naming the user and the topic, not that the topic does not exist."""
    unit = _as(secure_admin, Role.UNIT, "unit-c", ("UNIT-C",))
    with pytest.raises(NotAuthorisedError) as refused:
        read_topic(unit, f"{PREFIX}intel.audit")
    assert f"user unit-c may not read {PREFIX}intel.audit" in str(refused.value)
    assert "intelshare users add --role" in str(refused.value)


def test_oversight_reads_the_audit_log_only(secure_admin: Settings) -> None:
    """The oversight credential reads intel.audit, cannot read a feed nor write anything."""
    _put(secure_admin, f"{PREFIX}intel.audit", b"record")
    oversight = _as(secure_admin, Role.OVERSIGHT, "oversight")
    group = f"{PREFIX}intelshare-oversight"
    assert _read(oversight, f"{PREFIX}intel.audit", group) == [b"record"]
    with pytest.raises(NotAuthorisedError):
        _read(oversight, _feed("agency-a"), group)
    for topic in (f"{PREFIX}intel.audit", f"{PREFIX}intel.submissions"):
        with pytest.raises(NotAuthorisedError):
            publish(oversight, topic, [(b"k", b"forged")])


def test_wrong_password_is_refused_with_a_clear_error(secure_admin: Settings) -> None:
    """A wrong password is refused, and the message says which settings to check."""
    wrong = dataclasses.replace(secure_admin, sasl_password="not-the-password")
    with (
        pytest.raises(AuthenticationFailedError, match="INTELSHARE_SASL_USERNAME"),
        admin_client(wrong) as admin,
    ):
        admin.describe_cluster()


def test_cli_users_add_and_a_refused_login(secure_admin: Settings) -> None:
    """`users add` prints only the 0600 password file; a bad password exits 2 with advice."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTELSHARE_", "KAFKA_"))}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": secure_admin.bootstrap_servers,
        "INTELSHARE_HOME": str(secure_admin.home),
        "INTELSHARE_TOPIC_PREFIX": PREFIX,
        "INTELSHARE_REQUEST_TIMEOUT": "5",
        "INTELSHARE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "INTELSHARE_SASL_USERNAME": "admin",
        "INTELSHARE_SASL_PASSWORD_FILE": str(secure_admin.sasl_password_file),
    }
    done = run_cli("users", "add", "--role", "worker", "worker", env=env)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == secure_admin.home / "secrets" / "users" / "worker.password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() not in done.stdout + done.stderr

    env |= {"INTELSHARE_SASL_USERNAME": "worker", "INTELSHARE_SASL_PASSWORD": "wrong"}
    del env["INTELSHARE_SASL_PASSWORD_FILE"]
    refused = run_cli("topics", "create", env=env)
    assert refused.returncode == 2
    assert "INTELSHARE_SASL_USERNAME" in refused.stderr


def test_worker_credentials_work_with_confluent_kafka(secure_admin: Settings) -> None:
    """The agents' confluent-kafka clients (a reference view here) log in with the worker's
    SCRAM credential and read."""
    from agents.views import TopicView

    client = producer(secure_admin)
    try:
        topic = f"{PREFIX}intel.ref.facilities"
        client.send(topic, key=b"KZ-F-1", value=b"report").get(timeout=30)
    finally:
        client.close()
    worker = _as(secure_admin, Role.WORKER, "worker-rd")
    view: TopicView[bytes] = TopicView(worker, f"{PREFIX}intel.ref.facilities", lambda raw: raw)
    try:
        view.ready(60)
        assert list(view) == [b"report"]
    finally:
        view.stop()


def test_a_unit_may_submit_only_for_its_own_units(secure_admin: Settings, tmp_path: Path) -> None:
    """The whole exchange with least-privilege credentials (worker, unit, agency, oversight,
    each its own role), and issue 17: kz-piu-karaganda, registered with --unit
    KZ-PIU-KARAGANDA, submits a report of its own unit and one naming TJ-PIU-DUSHANBE: the
    first is disclosed, the second is a dead letter whose reason names the unit and reaches no
    feed. A report written past `submit` without a signature is refused too; replay resends
    neither (a dead letter keeps no signature) and says the unit must submit again. The
    oversight body verifies the one disclosure and reads when it was received."""
    import json
    from datetime import UTC, datetime

    from ops.runtime import free_port, launch_worker, stop_worker
    from streams.core.codec import record_codec
    from streams.core.report import validate_report
    from tests.factories import incident
    from tests.integration.helpers import read_all

    exchange = SecureExchange(secure_admin, tmp_path)
    admin, env, cli = exchange.admin, exchange.env, exchange.cli
    added = cli(exchange.as_admin, "users", "add", "--role", "unit", "kz-piu-karaganda",
                "--unit", "KZ-PIU-KARAGANDA")  # fmt: skip
    password, key = (Path(line) for line in added.stdout.splitlines())
    assert key == tmp_path / "secrets" / "users" / "kz-piu-karaganda.sign.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    as_unit = env("kz-piu-karaganda", password)
    worker_password = add_user(admin, Role.WORKER, "exchange-worker")
    as_agency = env("e-one", add_user(admin, Role.AGENCY, "e-one"))
    port = free_port()
    worker_env = env("exchange-worker", worker_password) | {"INTELSHARE_WEB_PORT": str(port)}
    worker = launch_worker(tmp_path / "worker.log", port, worker_env)
    try:
        own = incident(unit_id="KZ-PIU-KARAGANDA", facility_id="KZ-F-1")
        other = incident(unit_id="TJ-PIU-DUSHANBE", facility_id="KZ-F-1")
        (tmp_path / "reports.jsonl").write_text(f"{json.dumps(own)}\n{json.dumps(other)}\n")
        sent = cli(as_unit, "submit", str(tmp_path / "reports.jsonl")).stdout.split()
        assert sent == [own["event_id"], other["event_id"]]  # submit cannot know; intake does

        unsigned = validate_report(incident(unit_id="KZ-PIU-KARAGANDA", facility_id="KZ-F-1"),
                                   now=datetime.now(UTC))  # fmt: skip
        value = record_codec(admin.schemas_dir, "Report").encode(unsigned)
        unit = dataclasses.replace(admin, sasl_username="kz-piu-karaganda", sasl_password="",
                                   sasl_password_file=password)  # fmt: skip
        publish(unit, f"{admin.topic_prefix}intel.submissions",
                [(unsigned["event_id"].encode(), value)])  # fmt: skip

        letters = {d["key"]: d for d in exchange.dead_letters(expect=2)}
        assert set(letters) == {other["event_id"], unsigned["event_id"]}
        refused = letters[other["event_id"]]
        assert refused["error"] == "UnitNotAuthorisedError"
        assert refused["reason"] == (
            "unit_id: TJ-PIU-DUSHANBE is not a unit of user kz-piu-karaganda "
            "(its units: KZ-PIU-KARAGANDA)"
        )
        assert letters[unsigned["event_id"]]["error"] == "UnitNotAuthorisedError"
        assert "not signed" in letters[unsigned["event_id"]]["reason"]

        opened = exchange.consume(as_agency, expect=1)
        assert [d["event_id"] for d in opened] == [own["event_id"]]
        validated = read_all(admin, f"{admin.topic_prefix}intel.validated", expect=1, timeout=5)
        reports = record_codec(admin.schemas_dir, "Report")
        assert [reports.decode(r.value)["event_id"] for r in validated] == [own["event_id"]]

        # A dead letter keeps no signature: replay says so and resends nothing.
        replayed = cli(exchange.as_admin, "deadletter", "replay")
        assert "0 replayed, 2 kept" in replayed.stderr
        assert "must submit the report again" in replayed.stdout
        assert len(exchange.dead_letters(expect=2)) == 2
        assert [d["event_id"] for d in exchange.consume(as_agency, expect=1)] == [own["event_id"]]

        as_oversight = env("ombudsman", add_user(admin, Role.OVERSIGHT, "ombudsman"))

        def audited() -> list[dict[str, Any]]:
            shown = cli(as_oversight, "audit", "query", "--json").stdout.splitlines()
            return [json.loads(x) for x in shown]

        # The worker records the agency's consultation from its receipt (issue 13), after the
        # report's collection and its disclosure.
        wait_until(lambda: any(r["kind"] == "consultation" for r in audited()), timeout=60,
                   what="the agency's consultation in the audit log")  # fmt: skip
        rows = audited()
        kinds = [r["kind"] for r in rows]
        assert kinds[:2] == ["collection", "disclosure"]
        assert set(kinds[2:]) == {"consultation"}  # it opened the disclosure twice at most
        assert len(kinds) <= 4
        disclosed = rows[1]
        assert disclosed["received_at"] is not None  # the agency's receipt, read by oversight
        for consulted in rows[2:]:
            assert (consulted["recipient"], consulted["refers_to"]) == (
                "e-one",
                disclosed["disclosure_id"],
            )
        verified = cli(as_oversight, "audit", "verify").stdout
        assert f"sound: {len(rows)} records" in verified
        assert "feeds were not reconciled" in verified  # oversight may not read the feeds
    finally:
        stop_worker(worker)


# Issue 10: the whole role matrix, tried operation by operation with plain clients.
_RD, _WR = {"read", "describe"}, {"write", "describe"}
_WORKER_IN, _WORKER_OUT = _RD | {"describe_configs"}, _WR | {"describe_configs"}
EXPECTED_TOPICS: dict[str, dict[str, set[str]]] = {
    "unit": {"intel.submissions": _WR, "intel.feedback.KZ-PIU-MATRIX": _RD},  # its own unit's
    "agency": {
        "intel.feed.mx-agency": _RD, "intel.receipts": _WR,
        "intel.audit.checkpoints": _RD,  # issue 12: receipts name the checkpoint
        "intel.feedback": _WR,  # issue 13: feedback, signed with its receipt key
    },
    "oversight": {
        "intel.audit": _RD, "intel.audit.checkpoints": _RD, "intel.receipts": _RD,
        "intel.ref.agencies": _RD, "intel.agreements": _RD,
        "intel.audit.cosignatures": _RD, "intel.agreements.history": _RD,  # issue 12
        "intel.keys.commitments": _RD,  # issue 13: a subject's commitment by its link
    },
    "worker": {
        "intel.submissions": _WORKER_IN, "intel.validated": _WORKER_IN | _WORKER_OUT,
        "intel.enriched": _WORKER_IN | _WORKER_OUT, "intel.audit.pending": _WORKER_IN | _WORKER_OUT,
        "intel.audit": _WORKER_OUT, "intel.audit.checkpoints": _WORKER_OUT,
        "intel.deadletter": _WORKER_OUT, "intel.agreements": _WORKER_IN,
        "intel.ref.facilities": _WORKER_IN, "intel.ref.subjects": _WORKER_IN,
        "intel.ref.agencies": _WORKER_IN, "intel.ref.units": _WORKER_IN,
        "intel.feed.mx-agency": _WR, "intel.feed.mx-other": _WR,
        # issue 13: route makes a subject's data key and its oversight commitment
        "intel.keys.subjects": _WORKER_IN | _WORKER_OUT, "intel.keys.commitments": _WORKER_OUT,
        # issue 13: intake relays feedback, route encrypts it to the unit's registered key
        "intel.feedback": _WORKER_IN, "intel.ref.unitkeys": _WORKER_IN,
        "intel.feedback.KZ-PIU-MATRIX": _WR, "intel.feedback.KZ-PIU-OTHER": _WR,
        "intel.receipts": _WORKER_IN,  # issue 13: route records each consultation
    },
}  # fmt: skip
"""Role -> topic (without prefix) -> the operations allowed; every other pair is refused."""
EXPECTED_GROUPS = {
    "unit": set(),
    "agency": {"intelshare-agency-mx-agency"},
    "oversight": {"intelshare-oversight"},
    "worker": {f"intelshare-{agent}" for agent in ("intake", "enrich", "route", "sequencer")},
}
"""Role -> the consumer groups (without prefix) it may read, describe... and nothing else."""


@pytest.mark.parametrize("way_in", ["scram", "certificate"])
def test_each_role_may_do_exactly_what_its_job_needs(secure_admin: Settings, way_in: str) -> None:
    """Every role's user tries every operation on every topic of the catalogue (two feeds
    among them), every consumer group and the agents' transactional ids: the allowed set is
    exactly the expected matrix; nothing is allowed that is not listed. Each user is a SCRAM
    user over SASL_PLAINTEXT, or (issue 16) a certificate user over mutual TLS, whose common
    name the broker maps to the same principal (ssl.principal.mapping.rules)."""
    from streams.core.certs import CertStore
    from streams.topics import AGENT_NAMES, VIEW_GROUP
    from tests.integration.role_probe import (
        probe_groups,
        probe_topics,
        probe_transactional_ids,
        seed,
    )
    from tests.integration.secure_exchange import certified

    prefix = f"m{uuid.uuid4().hex[:8]}."
    admin = dataclasses.replace(secure_admin, topic_prefix=prefix)
    certs = CertStore(secure_admin.certs_dir)

    def user(role: Role, name: str, units: tuple[str, ...] = ()) -> Settings:
        if way_in == "scram":
            return _as(admin, role, name, units)
        add_user(admin, role, name, units)  # the ACLs of User:NAME (a SCRAM credential too)
        return certified(admin, name, certs)

    specs = (*CATALOGUE, feed_spec("mx-agency"), feed_spec("mx-other"))
    specs += (unit_feedback_spec("KZ-PIU-MATRIX"), unit_feedback_spec("KZ-PIU-OTHER"))
    assert all(o.problem is None for o in create_topics(admin, specs))
    topics = [prefix + spec.name for spec in specs]
    seed(admin, topics)
    groups = [prefix + g for g in sorted(set().union(*EXPECTED_GROUPS.values()))]
    groups += [prefix + "intelshare-agency-mx-other", VIEW_GROUP]
    transactional = [f"{prefix}intelshare-{agent}-0" for agent in AGENT_NAMES]
    transactional.append(f"{prefix}intelshare-agency-mx-agency-0")
    users = {
        "unit": user(Role.UNIT, "mx-unit", ("KZ-PIU-MATRIX",)),
        "agency": user(Role.AGENCY, "mx-agency"),
        "oversight": user(Role.OVERSIGHT, "mx-oversight"),
        "worker": user(Role.WORKER, "mx-worker"),
    }
    observed, expected = {}, {}
    for role, user in users.items():
        allowed = probe_topics(user, topics)
        for topic in topics:
            name = topic.removeprefix(prefix)
            observed[role, name] = sorted(allowed[topic])
            expected[role, name] = sorted(EXPECTED_TOPICS[role].get(name, set()))
        for group, operations in probe_groups(user, groups, topics[0]).items():
            name = group.removeprefix(prefix)
            observed[role, f"group {name}"] = sorted(operations)
            own = name in EXPECTED_GROUPS[role] or (role == "worker" and group == VIEW_GROUP)
            expected[role, f"group {name}"] = ["describe", "read"] if own else []
        mine = probe_transactional_ids(user, transactional)
        for transactional_id in transactional:
            name = transactional_id.removeprefix(prefix)
            observed[role, f"transactional_id {name}"] = (
                ["write"] if transactional_id in mine else []
            )
            agent = name.removeprefix("intelshare-").removesuffix("-0") in AGENT_NAMES
            expected[role, f"transactional_id {name}"] = (
                ["write"] if role == "worker" and agent else []
            )
    differences = {
        key: (expected[key], observed[key]) for key in expected if expected[key] != observed[key]
    }
    assert not differences, f"(role, resource): (expected, observed): {differences}"
    assert len(observed) == len(users) * (len(topics) + len(groups) + len(transactional))
