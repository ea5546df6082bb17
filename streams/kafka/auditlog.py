"""Reading the disclosure log back from Kafka: audit records, signed checkpoints, witnesses'
cosignatures, receipts, the registered agencies and, for reconciliation, the feeds; and
writing a witness's cosignatures.

The one place that turns ``intel.audit``, its checkpoints and receipts into decoded records
(dicts in the shape of their Avro schemas); what is done with them is in :mod:`streams.audit`,
which knows nothing of Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import structlog

from streams.audit.receipts import received_times
from streams.core.codec import Codec, record_codec
from streams.errors import DecodeError, NotAuthorisedError, TopicMissingError
from streams.kafka.clients import latest_by_key, publish, read_topic
from streams.kafka.logread import read_values
from streams.settings import Settings
from streams.topics import Topics

log = structlog.get_logger(__name__)

__all__ = [
    "agencies",
    "audit_records",
    "checkpoints",
    "cosignatures",
    "feed_disclosures",
    "latest_checkpoint",
    "publish_cosignatures",
    "readable_cosignatures",
    "receipt_times",
    "receipts",
]


def audit_records(settings: Settings) -> list[dict[str, Any]]:
    """Every committed audit record, in log order."""
    codec = record_codec(settings.schemas_dir, "AuditRecord")
    return codec.decode_all(read_values(settings, Topics(settings.topic_prefix).audit))


def checkpoints(settings: Settings) -> list[dict[str, Any]]:
    """Every committed signed checkpoint, in log order."""
    codec = record_codec(settings.schemas_dir, "Checkpoint")
    return codec.decode_all(read_values(settings, Topics(settings.topic_prefix).checkpoints))


def latest_checkpoint(settings: Settings) -> dict[str, Any] | None:
    """The checkpoint over the most records, or None before the first."""
    return max(checkpoints(settings), key=lambda c: c["tree_size"], default=None)


def cosignatures(settings: Settings) -> list[dict[str, Any]]:
    """Every witness cosignature, in log order; none when the topic does not exist yet (a
    deployment from before witnesses)."""
    codec = record_codec(settings.schemas_dir, "Cosignature")
    try:
        found = read_values(settings, Topics(settings.topic_prefix).cosignatures)
    except TopicMissingError:
        return []
    return codec.decode_all(found)


def readable_cosignatures(settings: Settings) -> tuple[list[dict[str, Any]], str | None]:
    """The cosignatures, or none and why when this credential may not read them (an export or
    a proof is still useful without them)."""
    try:
        return cosignatures(settings), None
    except NotAuthorisedError as exc:
        return [], f"{exc}; it carries no cosignatures"


def publish_cosignatures(settings: Settings, items: Iterable[dict[str, Any]]) -> int:
    """Write cosignatures to intel.audit.cosignatures, keyed ``witness:tree_size``."""
    codec = record_codec(settings.schemas_dir, "Cosignature")
    topic = Topics(settings.topic_prefix).cosignatures
    pairs = [(f"{c['witness']}:{c['tree_size']}".encode(), codec.encode(c)) for c in items]
    return publish(settings, topic, pairs)


def agencies(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every registered agency's latest record, by agency id."""
    codec = record_codec(settings.schemas_dir, "Agency")
    latest = latest_by_key(settings, Topics(settings.topic_prefix).agencies)
    return {key.decode(): codec.decode(value) for key, value in latest.items()}


def receipts(settings: Settings) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """Every consultation receipt, and each registered agency's raw receipt key by id."""
    keys = {ident: agency["signing_key"] for ident, agency in agencies(settings).items()}
    codec = record_codec(settings.schemas_dir, "Receipt")
    found = read_values(settings, Topics(settings.topic_prefix).receipts)
    return list(readable_receipts(codec, found)), keys


def readable_receipts(codec: Codec, values: Iterable[bytes | None]) -> Iterator[dict[str, Any]]:
    """The receipts among ``values`` that decode. Agencies write ``intel.receipts``, so bytes
    that are no receipt are skipped (counted in a log event), never fatal to oversight; a
    receipt that decodes still counts only if its agency's signature verifies."""
    values = list(values)
    try:
        decoded = codec.decode_all(values)  # all of them, the common case, in one loop
    except DecodeError:
        pass
    else:
        yield from decoded
        return
    skipped = 0
    for value in values:
        try:
            yield codec.decode(value or b"")
        except DecodeError:
            skipped += 1
    if skipped:
        log.warning("receipts_unreadable", count=skipped)


def receipt_times(settings: Settings) -> dict[str, datetime]:
    """When each disclosure was opened, from the consultation receipts that verify against
    the receipt key its recipient registered."""
    return received_times(*receipts(settings))


def feed_disclosures(settings: Settings, recipients: Iterable[str]) -> list[dict[str, Any]] | None:
    """Every disclosure on every feed; None when this credential can see none of the feeds
    (an oversight body's may not read them). A feed it cannot see while others are visible
    counts as empty, so the disclosures audited for it are reported missing."""
    names = Topics(settings.topic_prefix)
    wanted = set(recipients)
    codec = record_codec(settings.schemas_dir, "Disclosure")
    disclosures: list[dict[str, Any]] = []
    visible = 0
    for agency in sorted(wanted | set(agencies(settings))):
        try:
            records = read_topic(settings, names.feed(agency))
        except (NotAuthorisedError, TopicMissingError):
            continue
        visible += 1
        disclosures.extend(codec.decode(record.value) for record in records)
    return disclosures if visible or not wanted else None
