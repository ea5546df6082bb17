"""SCRAM users of a secure broker and the ACLs of their role.

The mapping from a role to its grants (:func:`grants_for`) is plain data, testable without a
broker; :func:`add_user` writes the credential and the ACLs with kafka-python's admin client
(aiokafka's cannot). Passwords are generated here and written to a file readable by the owner
only; they are never printed or logged.

A unit user also gets an Ed25519 submission key (``NAME.sign.key``, 0600, beside its password
file) and a record on the compacted ``intel.ref.units`` topic naming the report ``unit_id``
values it may speak for and its public key (:func:`register_unit`): Kafka does not tell the
exchange who produced a record, so ``submit`` signs each one and intake checks it
(:mod:`streams.core.submission`).
"""

from __future__ import annotations

import enum
import os
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from streams.core.fields import AGENCY_ID, AGENCY_RULE
from streams.core.keyfiles import generate_signing_key, load_ed25519_private, write_private
from streams.core.submission import unit_ids, unit_record
from streams.errors import ConfigError, IntelshareError
from streams.i18n import msg
from streams.kafka.clients import admin_client, translate_errors
from streams.kafka.registry import publish_unit
from streams.settings import SASL_MECHANISM, Settings
from streams.topics import AGENT_NAMES, FEED_PREFIX, UNIT_FEEDBACK_PREFIX, VIEW_GROUP, Topics

__all__ = [
    "Grant",
    "Role",
    "add_user",
    "grants_for",
    "password_file",
    "register_unit",
    "unit_key_file",
]


class Role(enum.Enum):
    """Who a user is, and so what the broker lets them do."""

    UNIT = "unit"
    AGENCY = "agency"
    OVERSIGHT = "oversight"
    WITNESS = "witness"
    WORKER = "worker"


class Grant(NamedTuple):
    """One ALLOW ACL for the user, on any host."""

    resource: str
    """Kafka resource type: ``topic``, ``group``, ``transactional_id`` or ``cluster``."""
    name: str
    """Resource name, topic prefix included (``kafka-cluster`` for the cluster)."""
    prefixed: bool
    """The name is a prefix (PREFIXED pattern) rather than a literal name."""
    operation: str
    """Kafka ACL operation, e.g. ``read``, ``write``, ``describe``, ``idempotent_write``."""


def _topic(name: str, *operations: str, prefixed: bool = False) -> list[Grant]:
    return [Grant("topic", name, prefixed, op) for op in operations]


def grants_for(role: Role, name: str, prefix: str = "", units: Sequence[str] = ()) -> list[Grant]:
    """The ACLs that let user ``name`` of ``role`` do its job and nothing more (a unit user's
    ``units``: the unit ids whose feedback it may read)."""
    if not AGENCY_ID.fullmatch(name):
        raise ConfigError(msg("user name {name!r} must be {rule}", name=name, rule=AGENCY_RULE))
    names = Topics(prefix)
    if role is Role.UNIT:
        # its own units' feedback only (each topic is encrypted to its unit, too)
        feedback = (g for u in units for g in _topic(names.unit_feedback(u), "read", "describe"))
        return [*_topic(names.submissions, "write", "describe"), *feedback]
    if role is Role.AGENCY:
        return [
            *_topic(names.feed(name), "read", "describe"),
            Grant("group", names.agency_group(name), False, "read"),
            # consultation receipts: signed with the agency's own key, so it cannot speak
            # for another agency even though the topic is shared
            *_topic(names.receipts, "write", "describe"),
            # the signed checkpoints, which each receipt names (gossip against a split view);
            # they show how many disclosures the log holds, not to whom
            *_topic(names.checkpoints, "read", "describe"),
            # feedback on the disclosures it received: signed with its receipt key, checked
            # by route against the disclosures made to it; it reads nothing of that topic
            *_topic(names.feedback, "write", "describe"),
        ]
    if role is Role.OVERSIGHT:
        return [
            *_topic(names.audit, "read", "describe"),
            *_topic(names.checkpoints, "read", "describe"),
            *_topic(names.cosignatures, "read", "describe"),
            # when each disclosure was received, and the agencies' public receipt keys
            *_topic(names.receipts, "read", "describe"),
            *_topic(names.agencies, "read", "describe"),
            # the agreements disclosures were made under (their status on the page), and
            # every version ever applied, to re-check each disclosure against its own
            *_topic(names.agreements, "read", "describe"),
            *_topic(names.agreement_history, "read", "describe"),
            # a subject's commitment by its oversight link, while the subject is not erased
            *_topic(names.subject_commitments, "read", "describe"),
            Grant("group", names.oversight_group, False, "read"),
        ]
    if role is Role.WITNESS:
        # reads the log and its checkpoints, recomputes the tree, writes only its cosignatures
        # (signed with its own key, so it cannot speak for another witness)
        return [
            *_topic(names.audit, "read", "describe"),
            *_topic(names.checkpoints, "read", "describe"),
            *_topic(names.cosignatures, "write", "describe"),
        ]
    return _worker_grants(names)


def _worker_grants(names: Topics) -> list[Grant]:
    """Topic by topic what the agents read and write (a compromised worker cannot rewrite
    agreements, reference data, agencies' keys or units, nor submit), their own consumer
    groups and transactional ids only, and their state changelogs (created on first start)."""
    reads = (names.submissions, names.feedback, names.validated, names.enriched,
             names.audit_pending, names.receipts)  # fmt: skip
    views = (names.agreements, names.facilities, names.subjects, names.agencies, names.units,
             names.subject_keys, names.unit_keys)  # fmt: skip
    writes = (names.validated, names.enriched, names.audit_pending, names.audit,
              names.checkpoints, names.deadletter, names.subject_keys,
              names.subject_commitments)  # fmt: skip
    grants = [
        *(g for t in (*reads, *views) for g in _topic(t, "read", "describe", "describe_configs")),
        *(g for t in writes for g in _topic(t, "write", "describe", "describe_configs")),
        *_topic(names.prefix + FEED_PREFIX, "write", "describe", prefixed=True),
        *_topic(names.prefix + UNIT_FEEDBACK_PREFIX, "write", "describe", prefixed=True),
        *_topic(
            names.state_changelogs,
            "read",
            "write",
            "describe",
            "describe_configs",
            "create",
            prefixed=True,
        ),
        Grant("group", VIEW_GROUP, False, "read"),
        Grant("cluster", "kafka-cluster", False, "idempotent_write"),
    ]
    for agent in AGENT_NAMES:
        group = names.agent_group(agent)
        grants.append(Grant("group", group, False, "read"))
        # one transactional id per instance: <group>-<instance>
        grants.append(Grant("transactional_id", f"{group}-", True, "write"))
        grants.append(Grant("transactional_id", f"{group}-", True, "describe"))
    return list(dict.fromkeys(grants))  # a topic both read and written is described once


def password_file(settings: Settings, name: str) -> Path:
    """Where ``users add`` writes the password of user ``name``."""
    return settings.users_dir / f"{name}.password"


def unit_key_file(settings: Settings, name: str) -> Path:
    """Where ``users add --role unit`` writes the submission key of user ``name``."""
    return settings.users_dir / f"{name}.sign.key"


def add_user(settings: Settings, role: Role, name: str, units: Sequence[str] = ()) -> Path:
    """Create (or reset) the SCRAM credential of ``name``, grant its role; return its file.

    ``settings`` must carry the admin's credentials. Running it again for the same user gives
    it a new password and the same ACLs (creating an existing ACL is a no-op on the broker).
    A unit user needs ``units``, the report ``unit_id`` values it may speak for: it also gets a
    new submission key and its record on ``intel.ref.units`` (:func:`register_unit`).
    """
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    if role is Role.UNIT:
        unit_ids(name, units)  # refuse bad units before anything changes
    grants = grants_for(role, name, settings.topic_prefix, units)
    if role is not Role.UNIT and units:
        raise ConfigError(msg("--unit is for role unit only, not {value}", value=role.value))
    password = secrets.token_urlsafe(32)
    upsert = UserScramCredentialUpsertion(
        name, ScramMechanism[SASL_MECHANISM.replace("-", "_")], password, iterations=8192
    )
    with (
        admin_client(settings) as admin,
        translate_errors(settings, msg("adding user {name}", name=name)),
    ):
        response = admin.alter_user_scram_credentials([upsert])
        _raise_for_errors(response)
        result = admin.create_acls([_acl(name, grant) for grant in grants])
        if result.get("failed"):
            failed = ", ".join(getattr(e, "__name__", str(e)) for e in result["failed"])
            raise IntelshareError(
                msg("the broker refused ACLs for {name}: {failed}", name=name, failed=failed)
            )
    path = password_file(settings, name)
    write_private(path, (password + "\n").encode(), replace=True)
    if role is Role.UNIT:
        register_unit(settings, name, units)
    return path


def register_unit(
    settings: Settings, name: str, units: Sequence[str], now: datetime | None = None
) -> Path:
    """Give unit user ``name`` a new submission key and publish its ``intel.ref.units`` record
    (``units``, the public key); return the private key's file (0600).

    A key already there is replaced (rotation): the new one is written beside it, the record
    published, and only then moved over the old one, so a failure leaves the old pair and the
    old record in place. A report signed with the old key is refused once the record changes.
    """
    final = unit_key_file(settings, name)
    folder = final.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = f"{name}.sign.new-{secrets.token_hex(4)}"
    key_path, pub_path = generate_signing_key(folder, stem)
    try:
        public = load_ed25519_private(key_path).public_key().public_bytes_raw()
        record = unit_record(name, units, public, now or datetime.now(UTC))
        publish_unit(settings, record)
        os.replace(pub_path, final.with_suffix(".pub"))
        os.replace(key_path, final)
    finally:
        key_path.unlink(missing_ok=True)
        pub_path.unlink(missing_ok=True)
    return final


def _raise_for_errors(response: dict[str, object]) -> None:
    """kafka-python maps each user to None or the broker's error for its SCRAM credential."""
    for user, error in response.items():
        if error:
            raise IntelshareError(
                msg(
                    "the broker refused to create the SCRAM credential of {user}: {error}",
                    user=user,
                    error=error,
                )
            )


def _acl(user: str, grant: Grant) -> object:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    pattern = ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL
    return ACL(
        principal=f"User:{user}",
        host="*",
        operation=ACLOperation[grant.operation.upper()],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(ResourceType[grant.resource.upper()], grant.name, pattern),
    )
