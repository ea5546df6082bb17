"""Avro single-object encoding of intelshare records (the wire format of every ``intel.*`` value).

A value is ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema, then
the Avro binary body. Decoding finds the writer schema by fingerprint among every released
version in ``schemas/`` and resolves it to the reader's (newest) version, so a record written by
an older or newer producer is read where the change is compatible.

fastavro does the encoding and decoding: on a report-sized record it is about ten times the
avro package here. Its errors are translated at this boundary into :mod:`streams.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro

from streams.core.schemas import SchemaSet, VersionedSchema
from streams.errors import (
    DecodeError,
    EncodeError,
    NotSingleObjectError,
    SchemaError,
    TruncatedRecordError,
    UnknownSchemaError,
)
from streams.i18n import msg

__all__ = ["MAGIC", "Codec", "record_codec", "split_header"]

MAGIC = b"\xc3\x01"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEADER = len(MAGIC) + 8


def split_header(data: bytes) -> tuple[bytes, bytes]:
    """Return ``(fingerprint, body)`` of a single-object encoded value."""
    if len(data) < _HEADER or data[:2] != MAGIC:
        raise NotSingleObjectError(
            msg(
                "not an Avro single-object value (want C3 01 + 8-byte fingerprint, got {count} "
                "bytes starting {data})",
                count=len(data),
                data=data[:2].hex() or "with nothing",
            )
        )
    return data[2:_HEADER], data[_HEADER:]


class Codec:
    """Encoder and decoder for one record type, e.g. ``intelshare.Report``.

    ``version`` pins the reader (and writer) schema to an older release; by default the newest.
    """

    def __init__(self, schemas: SchemaSet, name: str, *, version: int | None = None) -> None:
        self.schemas = schemas
        self.reader: VersionedSchema = schemas.latest(name)
        if version is not None:
            matching = [s for s in schemas.versions(name) if s.version == version]
            if not matching:
                raise SchemaError(
                    msg(
                        "{name} has no version {version} in {names}",
                        name=name,
                        version=version,
                        names=schemas.names(),
                    )
                )
            self.reader = matching[0]
        self._header = MAGIC + self.reader.fingerprint
        self._known = {s.fingerprint: s for s in schemas.versions(name)}
        self._bare, self._times = _times_apart(self.reader.raw)

    @property
    def name(self) -> str:
        """The record's full Avro name."""
        return self.reader.name

    def knows(self, data: bytes | None) -> bool:
        """Whether ``data`` is single-object encoded with a version of this record type (for a
        topic that carries two types, e.g. reports and report notices)."""
        return data is not None and data[:2] == MAGIC and data[2:_HEADER] in self._known

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Encode with the reader's schema; the record must already be valid for it."""
        out = io.BytesIO()
        out.write(self._header)
        try:
            fastavro.schemaless_writer(out, self.reader.parsed, record)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise EncodeError(msg("cannot encode {name}: {exc}", name=self.name, exc=exc)) from exc
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode any version of this record type into the reader's (newest) shape."""
        fingerprint, body = split_header(data)
        writer = self._known.get(fingerprint)
        if writer is None:
            other = self.schemas.by_fingerprint(fingerprint)
            if other is not None:
                raise UnknownSchemaError(
                    msg(
                        "value is a {name} (v{version}), not a {name2}",
                        name=other.name,
                        version=other.version,
                        name2=self.name,
                    )
                )
            raise UnknownSchemaError(
                msg(
                    "writer schema fingerprint {fingerprint} is not in schemas/; the producer "
                    "uses a schema this exchange does not know",
                    fingerprint=fingerprint.hex(),
                )
            )
        reader = None if writer is self.reader else self.reader.parsed
        stream = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(stream, writer.parsed, reader)
        except EOFError as exc:
            raise TruncatedRecordError(
                msg("{name} body is truncated: {exc}", name=self.name, exc=exc)
            ) from exc
        except Exception as exc:  # fastavro raises many types on hostile bytes
            raise DecodeError(
                msg(
                    "{name} body is not valid Avro: {error_type}",
                    name=self.name,
                    error_type=type(exc).__name__,
                )
            ) from exc
        if stream.tell() != len(body):
            raise TruncatedRecordError(
                msg(
                    "{count} bytes left over after the {name} record",
                    count=len(body) - stream.tell(),
                    name=self.name,
                )
            )
        if not isinstance(record, dict):
            raise DecodeError(msg("{name} body did not decode to a record", name=self.name))
        return record

    def decode_all(self, values: Iterable[bytes | None]) -> list[dict[str, Any]]:
        """:meth:`decode` of each of ``values``, with the same checks and errors, in one loop
        (a whole topic: issue 15): a value written with the reader's own schema, the common
        case, is read in place, its body not copied out nor its schema looked up again."""
        with _collector_paused():
            return self._decode_all(values)

    def _decode_all(self, values: Iterable[bytes | None]) -> list[dict[str, Any]]:
        header, bare, times = self._header, self._bare, self._times
        read, epoch, microseconds = fastavro.schemaless_reader, _EPOCH, _MICROSECOND
        records = []
        for data in values:
            record: dict[str, Any] | None = None
            if data is not None and data[:_HEADER] == header:
                stream = io.BytesIO(data)
                stream.seek(_HEADER)
                try:
                    found: Any = read(stream, bare, None)
                    for field in times:  # as fastavro's read_timestamp_millis does it
                        found[field] = epoch + found[field] * 1000 * microseconds
                except Exception:  # decode names what is wrong
                    found = None
                if type(found) is dict and stream.tell() == len(data):
                    record = found
            # another version, or a value that is not one whole record: decode resolves the
            # version, or names what is wrong
            records.append(self.decode(data or b"") if record is None else record)
        return records


def _times_apart(raw: Mapping[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """``raw`` parsed with its top-level timestamp-millis fields read as plain longs, and their
    names: fastavro's conversion of each, looked up for every record, was a fifth of decoding
    an audit record, and the same datetime is made in one line (decode_all). The bytes read
    are the same, as a logical type does not change the encoding; with no such field, or a
    logical type elsewhere, ``raw`` parsed as it is and no names."""
    fields = raw.get("fields") if raw.get("type") == "record" else None
    times: list[str] = []
    bare = []
    for field in fields if isinstance(fields, list) else []:
        kind = field.get("type")
        if isinstance(kind, dict) and kind == {"type": "long", "logicalType": "timestamp-millis"}:
            times.append(field["name"])
            field = {**field, "type": "long"}
        bare.append(field)
    if not times or "logicalType" in json.dumps(bare):
        return fastavro.parse_schema(dict(raw)), ()
    return fastavro.parse_schema({**raw, "fields": bare}), tuple(times)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused: every record decoded survives, so each of its passes
    over the growing heap finds nothing to free (a third of the decoding time of a whole audit
    log); decoded records hold no reference cycles, so nothing is left to it afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache
def _schema_set(directory: Path) -> SchemaSet:
    return SchemaSet.from_directory(directory)


@functools.cache
def record_codec(schemas_dir: Path, name: str) -> Codec:
    """The codec of ``intelshare.<name>`` (e.g. ``Report``), schemas read once per folder."""
    return Codec(_schema_set(schemas_dir), f"intelshare.{name}")
