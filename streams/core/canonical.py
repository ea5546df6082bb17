"""An unambiguous byte encoding of values: what the exchange hashes and signs (disclosures,
audit records, checkpoints, receipts, associated data)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

__all__ = ["canonical"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_length = struct.Struct(">I").pack


def canonical(*values: object) -> bytes:
    """An unambiguous byte encoding of ``values``: each is type-tagged and length-prefixed.

    Strings, bytes, integers, booleans, None, timezone-aware datetimes (as whole epoch
    milliseconds, the precision Avro keeps) and lists or tuples of these.
    """
    out = bytearray()
    for value in values:  # the common types first: this runs for every signature and hash
        if isinstance(value, str):
            data = value.encode()
            out += b"S" + _length(len(data)) + data
            continue
        if isinstance(value, bytes):
            out += b"Y" + _length(len(value)) + value
            continue
        if value is None:
            out += b"N"
            continue
        if isinstance(value, list | tuple):
            out += b"L" + _length(len(value)) + canonical(*value)
            continue
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
        out += tag + _length(len(data)) + data
    return bytes(out)
