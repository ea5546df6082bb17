"""Each disclosure re-checked against the agreement version its audit record names.

Every applied version of every agreement is kept on ``intel.agreements.history`` (the
compacted ``intel.agreements`` keeps only the latest), so an oversight body can ask, years
later, whether version 2 of an agreement allowed what was disclosed under it: the recipient,
purpose and legal basis are that version's, every field disclosed is in its ``disclose`` list,
and the version was valid and not revoked when the disclosure was made. Audit records do not
carry the report's TLP, so ``max_tlp`` cannot be re-checked from the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from streams.core.policy import Agreement
from streams.i18n import Message, msg

UNDER_AGREEMENT = ("disclosure", "recall", "correction")
"""The record kinds made under an agreement's version, which the history re-checks."""

__all__ = ["Recheck", "breach", "recheck"]

Versions = Mapping[tuple[str, int], Agreement]
"""Agreements by (id, version)."""


def breach(record: Mapping[str, Any], agreement: Agreement) -> Message | None:
    """What ``record`` did that ``agreement`` (the version it names) did not allow, or None.

    The text follows "disclosure ID" (``BROKEN at sequence N: disclosure ID {reason}``)."""
    named = {"agreement": f"{agreement.id} v{agreement.version}"}
    if record["recipient"] != agreement.recipient:
        return msg(
            "went to {recipient}, but {agreement} names {allowed}",
            recipient=record["recipient"],
            allowed=agreement.recipient,
            **named,
        )
    extra = [f for f in record["fields_disclosed"] if f not in agreement.disclose]
    if extra:
        # Translators: "disclose" is the agreement's key, kept as is
        return msg(
            "disclosed {fields}, which {agreement} does not list in disclose",
            fields=", ".join(extra),
            **named,
        )
    if (record["purpose"], record["legal_basis"]) != (agreement.purpose, agreement.legal_basis):
        return msg("names another purpose or legal basis than {agreement}", **named)
    moment = record["disclosed_at"]
    if agreement.revoked:
        return msg("was made under {agreement}, which was revoked", **named)
    if not agreement.valid_from <= moment < agreement.valid_until:
        return msg(
            "was made at {moment}, outside the validity of {agreement}",
            moment=moment.isoformat(),
            **named,
        )
    return None


class Recheck(NamedTuple):
    """The outcome of re-checking the log against the agreement history."""

    checked: int
    """Records whose agreement version was found and allowed them."""
    unknown: int
    """Records naming a version the history does not hold (applied before it was kept)."""
    breached_at: int | None
    """The sequence number of the first record its version did not allow, or None."""
    reason: str
    """What that record did, or an empty string."""


def recheck(records: Iterable[Mapping[str, Any]], versions: Versions) -> Recheck:
    """Re-check every record against its version; stops at the first breach."""
    checked = unknown = 0
    for record in records:
        if (record.get("kind") or "disclosure") not in UNDER_AGREEMENT:
            continue  # feedback is the recipient's act; collection, erasure ... name none
        agreement = versions.get((record["agreement_id"], record["agreement_version"]))
        if agreement is None:
            unknown += 1
            continue
        problem = breach(record, agreement)
        if problem is not None:
            return Recheck(checked, unknown, record["sequence"], problem)
        checked += 1
    return Recheck(checked, unknown, None, "")
