"""The Avro schemas of ``schemas/``: loading, fingerprints and compatibility.

Files are named ``<name>.v<N>.avsc``; every released version stays in the folder so that old
writers' records can still be read and so that each new version can be checked against the one
before it. The highest version of a record is the one intelshare writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import avro.errors
import avro.schema
import fastavro
import fastavro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from streams.errors import SchemaError
from streams.i18n import msg

__all__ = ["SchemaSet", "VersionedSchema", "compatibility_problems"]

_FILE_NAME = re.compile(r"^(?P<stem>[a-z_]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")


class VersionedSchema(NamedTuple):
    """One released version of one record schema."""

    name: str
    """Full Avro name, e.g. ``intelshare.Report``."""
    version: int
    """The ``N`` of ``<stem>.vN.avsc``."""
    path: Path
    """Where it was read from."""
    raw: Mapping[str, Any]
    """The schema as JSON."""
    parsed: Any
    """fastavro's parsed form, for the hot path."""
    fingerprint: bytes
    """8-byte little-endian CRC-64-AVRO of the parsing canonical form."""


def load_schema(path: Path) -> VersionedSchema:
    """Read and parse one ``.avsc`` file, naming the file in any error."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise SchemaError(msg("{path}: schema files must be named <name>.v<N>.avsc", path=path))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = fastavro.parse_schema(raw)
        canonical = fastavro.schema.to_parsing_canonical_form(raw)
        fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(
            msg("{path}: not a valid Avro schema: {exc}", path=path, exc=exc)
        ) from exc
    name = raw.get("namespace", "") + "." + raw["name"] if "namespace" in raw else raw["name"]
    return VersionedSchema(name, int(match["version"]), path, raw, parsed, fingerprint)


class SchemaSet:
    """Every version of every schema, looked up by record name or by fingerprint."""

    def __init__(self, schemas: Iterable[VersionedSchema]) -> None:
        self._by_fingerprint: dict[bytes, VersionedSchema] = {}
        self._versions: dict[str, list[VersionedSchema]] = {}
        for schema in schemas:
            other = self._by_fingerprint.get(schema.fingerprint)
            if other is not None:
                raise SchemaError(
                    msg(
                        "{path} is identical to {path2}; remove one",
                        path=schema.path,
                        path2=other.path,
                    )
                )
            self._by_fingerprint[schema.fingerprint] = schema
            self._versions.setdefault(schema.name, []).append(schema)
        for name, versions in self._versions.items():
            versions.sort(key=lambda s: s.version)
            numbers = [s.version for s in versions]
            if numbers != list(range(1, len(numbers) + 1)):
                raise SchemaError(
                    msg(
                        "{name}: versions {numbers} must run 1, 2, 3... without gaps",
                        name=name,
                        numbers=numbers,
                    )
                )

    @classmethod
    def from_directory(cls, directory: Path) -> SchemaSet:
        """Load every ``*.avsc`` file of ``directory``."""
        paths = sorted(directory.glob("*.avsc"))
        if not paths:
            raise SchemaError(
                msg(
                    "no .avsc files in {directory}; set INTELSHARE_SCHEMAS_DIR", directory=directory
                )
            )
        return cls(load_schema(p) for p in paths)

    def latest(self, name: str) -> VersionedSchema:
        """The version intelshare writes for record ``name``."""
        try:
            return self._versions[name][-1]
        except KeyError:
            raise SchemaError(
                msg(
                    "no schema named {name}; known: {names}",
                    name=name,
                    names=", ".join(self.names()),
                )
            ) from None

    def versions(self, name: str) -> list[VersionedSchema]:
        """All versions of ``name``, oldest first."""
        self.latest(name)
        return list(self._versions[name])

    def by_fingerprint(self, fingerprint: bytes) -> VersionedSchema | None:
        """The schema with this fingerprint, or None."""
        return self._by_fingerprint.get(fingerprint)

    def names(self) -> list[str]:
        """Every record name, sorted."""
        return sorted(self._versions)

    def __iter__(self) -> Iterator[VersionedSchema]:
        for name in self.names():
            yield from self._versions[name]


def compatibility_problems(old: VersionedSchema, new: VersionedSchema) -> list[str]:
    """Why ``new`` is not BACKWARD and FORWARD compatible with ``old``; empty when it is.

    BACKWARD: a reader of ``new`` reads what ``old`` wrote. FORWARD: a reader of ``old`` reads
    what ``new`` wrote. Checked with the Avro reference implementation's checker.
    """
    try:
        old_schema = avro.schema.parse(json.dumps(old.raw))
        new_schema = avro.schema.parse(json.dumps(new.raw))
    except avro.errors.SchemaParseException as exc:
        raise SchemaError(f"{new.path}: {exc}") from exc
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro is untyped
    problems = []
    for direction, reader, writer in (
        ("BACKWARD", new_schema, old_schema),
        ("FORWARD", old_schema, new_schema),
    ):
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            for message, location in zip(result.messages, result.locations, strict=False):
                problems.append(
                    f"{direction} {new.path.name} vs v{old.version}: {message} at {location}"
                )
            if not result.messages:
                problems.append(f"{direction} {new.path.name} vs v{old.version}: incompatible")
    return problems
