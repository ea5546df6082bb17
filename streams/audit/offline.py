"""An oversight body's copy of the log, as strong offline as the log is online.

``audit export`` writes JSON lines: one row per record (:func:`streams.audit.records.export_row`),
then a last line naming the format and carrying the latest signed checkpoint that covers the
rows above it (with the witnesses' cosignatures of it). :func:`verify_copy` checks the rows as
the online path checks the log (every hash link and signature from the first record) and then
against that checkpoint, so a copy with its tail cut off, with no records, with a field no
signature covers, or with records out of order fails, naming what is wrong. A copy without a
checkpoint fails too: it could have lost its tail unseen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from streams.audit.chain import HASHED_FIELDS, KIND_FIELDS, ChainVerifier
from streams.audit.checkpoint import against_checkpoint, log_against_checkpoint, reason_of
from streams.audit.consistency import checkpoint_from_json, checkpoint_json
from streams.audit.records import import_row
from streams.audit.verify import ChainStatus, VerificationKeys
from streams.errors import ChainBrokenError, ConfigError
from streams.i18n import Message, msg

__all__ = [
    "EXPORT_FORMAT",
    "Copy",
    "export_trailer",
    "is_trailer",
    "verify_copy",
]

EXPORT_FORMAT = "intelshare-audit-export-v2"
"""The ``format`` of an export's last line; exports without one predate it."""
_SIGNED = frozenset(HASHED_FIELDS) | {"hash", "signature", "subject_links", *KIND_FIELDS}
"""The fields a row may hold: every one is covered by the record's hash and signature
(``subject_links`` when not empty; empty, it adds nothing; the v4 fields of KIND_FIELDS when
one differs from its default; at their defaults, they add nothing)."""
_REQUIRED = frozenset(HASHED_FIELDS) | {"hash", "signature"}


class Copy(NamedTuple):
    """An export read back: its rows in file order and its checkpoint line (None when it has
    none)."""

    trailer: Mapping[str, Any] | None
    """The last line when it is the export's checkpoint line."""
    rows: Sequence[tuple[str, Mapping[str, Any]]]
    """Each row with a label naming where it is (``copy.jsonl line 3``)."""


def export_trailer(
    checkpoint: Mapping[str, Any] | None, cosignatures: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The last line of an export: the format, the signed checkpoint (JSON form) and the
    cosignatures of it, also in JSON form."""
    return {
        "format": EXPORT_FORMAT,
        "checkpoint": checkpoint_json(checkpoint) if checkpoint is not None else None,
        "cosignatures": list(cosignatures),
    }


def is_trailer(row: Mapping[str, Any]) -> bool:
    """Whether a parsed line is an export's checkpoint line rather than a record."""
    return "format" in row and "sequence" not in row


def _field_problem(row: Mapping[str, Any]) -> Message | None:
    if is_trailer(row):
        return msg("a checkpoint line among the records: it must be the copy's last line")
    extra = sorted(set(row) - _SIGNED)
    if extra:
        names = ", ".join(repr(name[:40]) for name in extra[:5])
        return msg(
            "the row has a field no signature covers ({names}): it was added to the copy",
            names=names,
        )
    missing = sorted(_REQUIRED - set(row))
    if missing:
        return msg(
            "the row lacks {fields}: it was cut down in the copy", fields=", ".join(missing[:5])
        )
    return None


def verify_copy(copy: Copy, keys: VerificationKeys) -> tuple[ChainStatus, dict[str, Any] | None]:
    """Verify an export offline: the rows, then the checkpoint of its last line. Returns the
    status and the checkpoint (None when the copy carries none)."""
    verifier = ChainVerifier(keys.keys, keys.retired)
    records: list[dict[str, Any]] = []
    try:
        for label, row in copy.rows:
            problem = _field_problem(row)
            if problem is not None:
                raise ChainBrokenError(verifier.count, problem)
            try:
                record = import_row(row, label)
            except ConfigError as exc:
                raise ChainBrokenError(verifier.count, reason_of(exc)) from None
            verifier.feed(record)
            records.append(record)
    except ChainBrokenError as exc:
        unknown = "unknown key" in exc.reason
        return ChainStatus(False, verifier.count, exc.sequence, exc.reason, unknown), None
    checkpoint = _checkpoint(copy.trailer)
    if checkpoint is None:
        if not records:
            detail = msg(
                "the copy is empty: it holds no records and no signed checkpoint, so records cut "
                "off its end could not be seen; make a new copy with `intelshare audit export` "
                "(it carries one)"
            )
        else:
            detail = msg(
                "the copy holds records but no signed checkpoint, so records cut off its end "
                "could not be seen; make a new copy with `intelshare audit export` (it carries "
                "one)"
            )
        return ChainStatus(False, len(records), None, detail), None
    wrong = log_against_checkpoint(records, checkpoint, keys.keys)
    if wrong:
        detail = against_checkpoint(checkpoint["tree_size"], wrong)
        return ChainStatus(False, len(records), None, detail, "unknown key" in wrong), checkpoint
    return ChainStatus(True, len(records), None, _covered(len(records), checkpoint)), checkpoint


def _checkpoint(trailer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if trailer is None or trailer.get("checkpoint") is None:
        return None
    return checkpoint_from_json(trailer["checkpoint"], "the copy's checkpoint")


def _covered(count: int, checkpoint: Mapping[str, Any]) -> Message:
    size = checkpoint["tree_size"]
    signed = checkpoint["created_at"].isoformat()
    if count > size:
        return msg(
            "hash links and signatures verified, {size} under the checkpoint signed {signed} "
            "(the last {later} were under no checkpoint yet when exported)",
            size=size,
            signed=signed,
            later=count - size,
        )
    return msg(
        "hash links and signatures verified, {size} under the checkpoint signed {signed}",
        size=size,
        signed=signed,
    )
