"""Audit records of the processing operations that are not disclosures: the Law Enforcement
Directive's logging article (Directive (EU) 2016/680, Art. 25(1)) names collection,
alteration, consultation, disclosure, combination and erasure. Pure: no Kafka.

Route writes them, each in the transaction that commits its input, so each is recorded
exactly once (their ids are derived from what they record, like a disclosure's):

- **collection**: route takes a report in, the first time it sees its event id. The record's
  ``payload_sha256`` is the digest of the report as route read it (enriched with the facility
  and the subjects' reference data), so the record pins what the exchange holds. Nobody
  receives anything: ``recipient`` is empty.
- **combination**: enrich linked the report to earlier reports about the same subject
  (``correlated_with``) or found it a duplicate of one (``duplicate_of``); the record lists
  those event ids in ``fields_disclosed``.
- **alteration**: a unit corrected a report (``submit`` with ``corrects``): recorded once per
  correcting report on the corrected event, ``refers_to`` the correcting event, whether or not
  the corrected report had been disclosed (the correction notices to its recipients are
  records of their own).
- **consultation**: a recipient agency opened a disclosure, as its signed consultation receipt
  on ``intel.receipts`` says (:func:`consultation_record`): ``recipient`` the agency,
  ``refers_to`` the disclosure, ``disclosed_at`` when the agency says it opened it, and
  ``payload_sha256`` the digest of the receipt's signature, which names the receipt.

Subjects are named as in the record of a disclosure in clear, by their commitments under their
data keys (``subjects`` and ``subject_links``): ``audit query --subject X --link-key`` finds
them, and an erasure leaves them unlinkable too. Records with an empty ``recipient`` have no feed
message, and ``audit verify``'s reconciliation expects none.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from streams.core.disclosure import pending_record

__all__ = [
    "ALTERATION",
    "COLLECTION",
    "COMBINATION",
    "CONSULTATION",
    "alteration_record",
    "collection_record",
    "combination_record",
    "consultation_record",
    "operation_id",
]

COLLECTION = "collection"
ALTERATION = "alteration"
CONSULTATION = "consultation"
COMBINATION = "combination"
_NAMESPACE = uuid.UUID("a4e1c7d2-6b3f-4e98-b0a5-1f2d3c4e5a69")


def operation_id(kind: str, *parts: str) -> str:
    """The record id of one operation (a UUID5 of its kind and what it concerns): the same when
    the same operation is recorded again, distinct from every disclosure id."""
    return str(uuid.uuid5(_NAMESPACE, "|".join((kind, *parts))))


def _subjects(report: Mapping[str, Any], commit: Callable[[str], str]) -> dict[str, list[str]]:
    """A report's subjects as its records name them: by commitment, in both fields."""
    named = [commit(s["subject_id"]) for s in report.get("subjects") or ()]
    return {"subjects": named, "subject_links": named}


def _record(kind: str, ident: str, event: str, now: datetime, **fields: Any) -> dict[str, Any]:
    """The pending record of an operation made under no agreement."""
    return pending_record(
        kind, disclosure_id=ident, event_id=event, agreement_id="", agreement_version=0,
        recipient=fields.pop("recipient", ""), purpose="", legal_basis="", now=now, **fields,
    )  # fmt: skip


def collection_record(
    report: Mapping[str, Any], raw: bytes, *, commit: Callable[[str], str], now: datetime
) -> dict[str, Any]:
    """The pending record of collecting ``report`` (``raw``: its bytes as read)."""
    event = report["event_id"]
    return _record(
        COLLECTION, operation_id(COLLECTION, event), event, now,
        payload_sha256=hashlib.sha256(raw).digest(), **_subjects(report, commit),
    )  # fmt: skip


def combined_with(report: Mapping[str, Any]) -> list[str]:
    """The event ids enrich linked ``report`` to: earlier reports on its subjects, and the
    report it duplicates; sorted, each once."""
    enrichment = report.get("enrichment") or {}
    linked = set(enrichment.get("correlated_with") or ())
    if enrichment.get("duplicate_of"):
        linked.add(enrichment["duplicate_of"])
    linked.discard(report["event_id"])
    return sorted(linked)


def combination_record(
    report: Mapping[str, Any], *, commit: Callable[[str], str], now: datetime
) -> dict[str, Any] | None:
    """The pending record of combining ``report`` with the reports enrich linked it to, or
    None when it was linked to none."""
    linked = combined_with(report)
    if not linked:
        return None
    event = report["event_id"]
    return _record(
        COMBINATION, operation_id(COMBINATION, event), event, now,
        fields_disclosed=linked, **_subjects(report, commit),
    )  # fmt: skip


def alteration_record(notice: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The pending record of a correction (a checked ReportNotice of kind correction): the
    event altered, ``refers_to`` the correcting event, the unit's reason if any."""
    event, by = notice["event_id"], notice.get("corrected_by") or ""
    return _record(
        ALTERATION, operation_id(ALTERATION, event, by), event, now,
        refers_to=by or None, reason=notice.get("reason"),
    )  # fmt: skip


def consultation_record(receipt: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The pending record of a verified consultation receipt (schemas/receipt.v2.avsc)."""
    signature = hashlib.sha256(receipt["signature"]).digest()
    record = _record(
        CONSULTATION, operation_id(CONSULTATION, signature.hex()), "", now,
        recipient=receipt["agency_id"], payload_sha256=signature,
        refers_to=receipt["disclosure_id"],
    )  # fmt: skip
    record["disclosed_at"] = receipt["received_at"]
    return record
