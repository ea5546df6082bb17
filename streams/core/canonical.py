"""An unambiguous byte encoding of values: what the exchange hashes and signs (disclosures,
audit records, checkpoints, receipts, associated data)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

__all__ = ["canonical"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_length = struct.Struct(">I").pack
_tagged = struct.Struct(">cI").pack


def canonical(*values: object) -> bytes:
    """An unambiguous byte encoding of ``values``: each is type-tagged and length-prefixed.

    Strings, bytes, integers, booleans, None, timezone-aware datetimes (as whole epoch
    milliseconds, the precision Avro keeps) and lists or tuples of these.
    """
    out: list[bytes] = []
    _encode(values, out)
    return b"".join(out)


def _encode(values: tuple[object, ...] | list[object], out: list[bytes]) -> None:
    """Append the encoding of each of ``values`` to ``out``: the exact types first (this runs
    for every signature and hash, some 20 values a record; issue 15), then their subclasses."""
    append = out.append
    for value in values:
        kind = type(value)
        if kind is str:
            data = value.encode()  # type: ignore[attr-defined]
            append(_tagged(b"S", len(data)))
            append(data)
        elif kind is bytes:
            append(_tagged(b"Y", len(value)))  # type: ignore[arg-type]
            append(value)  # type: ignore[arg-type]
        elif value is None:
            append(b"N")
        elif kind is list or kind is tuple:
            append(_tagged(b"L", len(value)))  # type: ignore[arg-type]
            _encode(value, out)  # type: ignore[arg-type]
        elif kind is datetime and value.tzinfo is not None:  # type: ignore[attr-defined]
            data = str((value - _EPOCH) // _MILLISECOND).encode()  # type: ignore[operator]
            append(_tagged(b"T", len(data)))
            append(data)
        elif kind is int:
            data = str(value).encode()
            append(_tagged(b"I", len(data)))
            append(data)
        else:
            append(_other(value, out))


def _other(value: object, out: list[bytes]) -> bytes:
    """The encoding of a value of any other type (or a subclass of the types above)."""
    if isinstance(value, str):
        data = value.encode()
        return b"S" + _length(len(data)) + data
    if isinstance(value, bytes):
        return b"Y" + _length(len(value)) + value
    if isinstance(value, list | tuple):
        items: list[bytes] = []
        _encode(value, items)
        return b"L" + _length(len(value)) + b"".join(items)
    if isinstance(value, bool):
        tag, data = b"B", b"\x01" if value else b"\x00"
    elif isinstance(value, int):
        tag, data = b"I", str(value).encode()
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("cannot encode a datetime without a time zone canonically")
        tag, data = b"T", str((value - _EPOCH) // _MILLISECOND).encode()
    else:
        raise TypeError(f"cannot encode {type(value).__name__} canonically")
    return tag + _length(len(data)) + data
