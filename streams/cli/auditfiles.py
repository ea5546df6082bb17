"""Reading the oversight body's files: exports of the log, and signed checkpoints named by a
file (a bare checkpoint, an inclusion or consistency proof, a witness's state, an export) or by
tree size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from streams.audit.consistency import checkpoint_from_json
from streams.audit.offline import Copy, is_trailer
from streams.audit.records import import_row
from streams.audit.witness import of_checkpoint
from streams.cli.common import read_text
from streams.core.inputs import load_json
from streams.errors import ConfigError, MalformedInputError
from streams.i18n import msg
from streams.kafka.auditlog import audit_records, checkpoints, readable_cosignatures
from streams.settings import Settings

__all__ = ["CheckpointSource", "broker_hashes", "checkpoint_source", "read_copy"]

_CSV = (
    "{path} is the CSV export, which is for spreadsheets and cannot be verified (it flattens "
    "the signed fields); verify the JSON lines export: `intelshare audit export --out copy.jsonl`"
)


def read_copy(path: str) -> Copy:
    """An export file: its rows and its last line when that is the checkpoint line.
    ConfigError for a CSV export or a line that is not JSON (a usage problem: the wrong file)."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = load_json(line)
        except MalformedInputError as exc:
            if number == 1 and line.startswith("sequence,"):
                raise ConfigError(_CSV.format(path=path)) from exc
            raise ConfigError(
                msg(
                    "{path} line {number}: not an audit export row ({exc})",
                    path=path,
                    number=number,
                    exc=exc,
                )
            ) from exc
        if not isinstance(row, dict):
            raise ConfigError(
                msg(
                    "{path} line {number}: not an audit export row (not an object)",
                    path=path,
                    number=number,
                )
            )
        rows.append((msg("{path} line {number}", path=path, number=number), row))
    if rows and is_trailer(rows[-1][1]):
        return Copy(rows[-1][1], rows[:-1])
    return Copy(None, rows)


class CheckpointSource(NamedTuple):
    """A signed checkpoint and, when the file holding it has them, the log's chain hashes."""

    label: str
    """Where it came from: the file name, or ``tree size N`` for one read from the broker."""
    checkpoint: dict[str, Any]
    """The checkpoint, bytes and times decoded."""
    hashes: Sequence[bytes] | None
    """The chain hashes of the records of an export, in order; None for other files."""
    cosignatures: Sequence[Any] = ()
    """The cosignatures of it that came with it (JSON form), unverified."""


def checkpoint_source(settings: Settings, given: str) -> CheckpointSource:
    """The checkpoint ``given`` names: a tree size (read from intel.audit.checkpoints, the first
    signed at that size), or a file holding one."""
    if given.isdigit():
        size = int(given)
        found = [c for c in checkpoints(settings) if c["tree_size"] == size]
        if not found:
            raise ConfigError(
                msg(
                    "no signed checkpoint of {size} records on the broker; give a size one was "
                    "signed at, or a checkpoint file",
                    size=size,
                )
            )
        cosigned, _unused = readable_cosignatures(settings)
        return CheckpointSource(
            msg("tree size {size}", size=size), found[0], None, of_checkpoint(found[0], cosigned)
        )
    text = read_text(given)
    try:
        whole = load_json(text)
    except MalformedInputError:
        return _from_export(given)
    if not isinstance(whole, dict):
        raise ConfigError(
            msg("{given} holds no signed checkpoint (not a JSON object)", given=given)
        )
    given_cosignatures = whole.get("cosignatures")
    carried = given_cosignatures if isinstance(given_cosignatures, list) else []
    for key in ("checkpoint", "new"):  # an inclusion proof or state.json; a consistency proof
        if isinstance(whole.get(key), dict):
            checkpoint = checkpoint_from_json(whole[key], given)
            return CheckpointSource(given, checkpoint, None, carried)
    return CheckpointSource(given, checkpoint_from_json(whole, given), None, carried)


def _from_export(path: str) -> CheckpointSource:
    copy = read_copy(path)
    raw = copy.trailer.get("checkpoint") if copy.trailer is not None else None
    if raw is None:
        raise ConfigError(
            msg(
                "{path} holds no signed checkpoint: give a checkpoint file, an inclusion proof, a "
                "witness's state.json, an export made by `intelshare audit export`, or a tree "
                "size",
                path=path,
            )
        )
    hashes = [import_row(row, label)["hash"] for label, row in copy.rows]
    carried = copy.trailer.get("cosignatures") if copy.trailer is not None else None
    checkpoint = checkpoint_from_json(raw, path)
    return CheckpointSource(path, checkpoint, hashes, carried if isinstance(carried, list) else [])


def broker_hashes(settings: Settings) -> list[bytes]:
    """The chain hashes of every record on intel.audit, in order."""
    return [record["hash"] for record in audit_records(settings)]
