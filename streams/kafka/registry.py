"""What the exchange's operators publish: agencies and their keys, reference data, agreements.

Each is validated by the pure core first (:mod:`streams.core.reference`,
:mod:`streams.core.policy`) and published to its compacted topic only when it passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from streams.core.codec import record_codec
from streams.core.crypto import key_id
from streams.core.policy import (
    Agreement,
    agreement_from_record,
    agreement_to_record,
    parse_agreement,
)
from streams.core.reference import ReferenceRecord
from streams.errors import AgreementInvalidError, FieldProblem, IntelshareError
from streams.kafka.clients import latest_by_key, publish, read_topic
from streams.kafka.topics import create_topics
from streams.settings import Settings
from streams.topics import CATALOGUE, UNITS, Topics, feed_spec

__all__ = [
    "AgreementPlan",
    "AppliedVersion",
    "agency_record",
    "agreement_history",
    "plan_agreements",
    "publish_agreements",
    "publish_reference",
    "publish_unit",
    "published_agreements",
    "register_agency",
]


def agency_record(
    agency_id: str,
    name: str,
    country: str | None,
    public_key: bytes,
    signing_key: bytes,
    now: datetime,
) -> dict[str, Any]:
    """The intel.ref.agencies record (schemas/agency.v2.avsc) of one agency."""
    return {
        "agency_id": agency_id,
        "name": name,
        "country": country,
        "public_key": public_key,
        "key_id": key_id(public_key),
        "registered_at": now,
        "signing_key": signing_key,
    }


def register_agency(settings: Settings, record: Mapping[str, Any]) -> str:
    """Create the agency's feed (idempotent) and publish its record; returns the feed name."""
    outcome = create_topics(settings, [feed_spec(record["agency_id"])])[0]
    if outcome.problem:
        raise IntelshareError(f"feed {outcome.name} {outcome.problem}")
    value = record_codec(settings.schemas_dir, "Agency").encode(record)
    topic = Topics(settings.topic_prefix).agencies
    publish(settings, topic, [(record["agency_id"].encode(), value)])
    return outcome.name


def publish_unit(settings: Settings, record: Mapping[str, Any]) -> None:
    """Publish a unit user's record (schemas/unit.v1.avsc) keyed by its user name, creating
    ``intel.ref.units`` first if this deployment predates it (idempotent)."""
    outcome = create_topics(settings, [spec for spec in CATALOGUE if spec.name == UNITS])[0]
    if outcome.problem:
        raise IntelshareError(f"topic {outcome.name} {outcome.problem}")
    value = record_codec(settings.schemas_dir, "Unit").encode(record)
    publish(settings, Topics(settings.topic_prefix).units, [(record["user"].encode(), value)])


def publish_reference(settings: Settings, records: Iterable[ReferenceRecord]) -> dict[str, int]:
    """Publish validated reference lines, each to its compacted topic; count per topic."""
    by_topic: dict[str, list[tuple[bytes, bytes | None]]] = {}
    for ref in records:
        codec = record_codec(settings.schemas_dir, ref.schema_name.split(".")[-1])
        topic = settings.topic_prefix + ref.topic
        by_topic.setdefault(topic, []).append((ref.key.encode(), codec.encode(ref.record)))
    return {topic: publish(settings, topic, items) for topic, items in by_topic.items()}


def published_agreements(settings: Settings) -> dict[str, Agreement]:
    """The latest published version of every agreement, by id."""
    codec = record_codec(settings.schemas_dir, "Agreement")
    latest = latest_by_key(settings, Topics(settings.topic_prefix).agreements)
    return {
        key.decode(): agreement_from_record(codec.decode(value)) for key, value in latest.items()
    }


class AgreementPlan(NamedTuple):
    """What ``agreements apply`` would do with one agreement."""

    agreement: Agreement
    """The agreement as parsed."""
    changed: bool
    """False when the same version is already published, identical."""


def plan_agreements(
    settings: Settings, items: Iterable[tuple[str, object]]
) -> tuple[list[AgreementPlan], list[IntelshareError]]:
    """Parse ``(label, mapping)`` pairs and check each against what is published: every fault
    of every agreement (an unregistered recipient, a change without a higher version) is
    returned, so ``apply`` can publish all or none."""
    registered = latest_by_key(settings, Topics(settings.topic_prefix).agencies)
    published = published_agreements(settings)
    plans: list[AgreementPlan] = []
    errors: list[IntelshareError] = []
    for label, item in items:
        try:
            agreement = parse_agreement(item, label)
        except IntelshareError as exc:
            errors.append(exc)
            continue
        current = published.get(agreement.id)
        problems = []
        if agreement.recipient.encode() not in registered:
            reason = "is not a registered agency; run `intelshare agencies register` first"
            problems.append(FieldProblem("recipient", reason))
        if current is not None and current != agreement and agreement.version <= current.version:
            reason = f"must be above {current.version}, the published version, for a change"
            problems.append(FieldProblem("version", reason))
        if problems:
            errors.append(AgreementInvalidError(problems, label=f"{label} ({agreement.id})"))
        else:
            plans.append(AgreementPlan(agreement, current != agreement))
    return plans, errors


def publish_agreements(settings: Settings, agreements: Iterable[Agreement]) -> int:
    """Publish agreements to the compacted intel.agreements topic, all in one call, after
    keeping each version on intel.agreements.history (first, so no version is applied without
    being kept; a failure in between leaves a kept version that was not applied, which
    ``agreements history`` shows as not the one in force)."""
    codec = record_codec(settings.schemas_dir, "Agreement")
    values = [(a, codec.encode(agreement_to_record(a))) for a in agreements]
    if not values:
        return 0
    names = Topics(settings.topic_prefix)
    publish(settings, names.agreement_history, [(_version_key(a), v) for a, v in values])
    return publish(settings, names.agreements, [(a.id.encode(), v) for a, v in values])


def _version_key(agreement: Agreement) -> bytes:
    return f"{agreement.id}:v{agreement.version}".encode()


class AppliedVersion(NamedTuple):
    """One version of an agreement as it was applied."""

    agreement: Agreement
    """The agreement at that version."""
    applied_at: datetime
    """When it was published (the record's broker timestamp)."""


def agreement_history(settings: Settings) -> list[AppliedVersion]:
    """Every version ever applied, oldest first (a version applied twice, once)."""
    codec = record_codec(settings.schemas_dir, "Agreement")
    seen: set[bytes] = set()
    found: list[AppliedVersion] = []
    for record in read_topic(settings, Topics(settings.topic_prefix).agreement_history):
        if record.key in seen or record.value is None:
            continue
        seen.add(record.key)
        agreement = agreement_from_record(codec.decode(record.value))
        found.append(
            AppliedVersion(agreement, datetime.fromtimestamp(record.timestamp / 1000, UTC))
        )
    return found
