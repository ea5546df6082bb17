"""Who submitted a report: the unit's signature over a submission, and its check by intake.

Kafka does not tell a consumer which SASL principal produced a record, so on a secure broker a
unit proves who it is per message: ``intelshare submit`` signs every value with the unit user's
Ed25519 submission key (``$INTELSHARE_HOME/secrets/users/NAME.sign.key``, made by
``intelshare users add --role unit NAME --unit UNIT_ID``) and sends three headers:

- ``intelshare-unit-user``: the user name;
- ``intelshare-unit-key-id``: the id of the key (:func:`streams.core.crypto.key_id`);
- ``intelshare-unit-signature``: Ed25519 over
  ``canonical("intelshare-submission-v1", user, key_id, sha256(value))``.

Intake looks the user up on ``intel.ref.units`` (its units, its registered key), checks the
signature with :func:`verify_submission`, then that the report's ``unit_id`` is one of the
user's units with :func:`check_unit`. Every failure is a :class:`UnitNotAuthorisedError`, a
dead letter whose reason names the header or field at fault. Header values come from anyone
who can write ``intel.submissions``: they are bounded and decoded strictly before any use,
and never echoed at length.

Pure: keys and the registry lookup are parameters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.core.canonical import canonical
from streams.core.crypto import KEY_BYTES, key_id, sign, verify
from streams.core.fields import AGENCY_ID, AGENCY_RULE, IDENTIFIER, IDENTIFIER_RULE, show
from streams.core.times import to_millis
from streams.errors import ConfigError, SignatureError, UnitNotAuthorisedError
from streams.i18n import msg

__all__ = [
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "USER_HEADER",
    "Registry",
    "Signer",
    "check_unit",
    "sign_submission",
    "signed_bytes",
    "unit_ids",
    "unit_record",
    "verify_submission",
]

USER_HEADER = "intelshare-unit-user"
"""The unit's SCRAM user name, UTF-8."""
KEY_ID_HEADER = "intelshare-unit-key-id"
"""The id of the submission key that signed (16 lower-case hex characters)."""
SIGNATURE_HEADER = "intelshare-unit-signature"
"""The raw 64-byte Ed25519 signature."""

_DOMAIN = "intelshare-submission-v1"
_SIGNATURE_BYTES = 64
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_MAX_UNITS = 64

Registry = Callable[[str], Mapping[str, Any] | None]
"""The registered unit record (schemas/unit.v1.avsc) of a user name, or None."""


class Signer(NamedTuple):
    """A unit user whose signature over a submission verified."""

    user: str
    """Its SCRAM user name."""
    units: tuple[str, ...]
    """The report ``unit_id`` values it may speak for."""


def signed_bytes(user: str, kid: str, value: bytes) -> bytes:
    """What a submission signature covers: the user, its key id and the value's SHA-256."""
    return canonical(_DOMAIN, user, kid, hashlib.sha256(value).digest())


def sign_submission(value: bytes, user: str, key: Ed25519PrivateKey) -> list[tuple[str, bytes]]:
    """The three headers that prove ``user`` (holding ``key``) sent ``value``."""
    kid = key_id(key.public_key().public_bytes_raw())
    return [
        (USER_HEADER, user.encode()),
        (KEY_ID_HEADER, kid.encode()),
        (SIGNATURE_HEADER, sign(key, signed_bytes(user, kid, value))),
    ]


def unit_ids(user: str, units: Sequence[str]) -> list[str]:
    """The units a user may speak for, each once, in order; ConfigError for a user name or
    unit id that is not acceptable, or for no unit at all."""
    if not isinstance(user, str) or not AGENCY_ID.fullmatch(user):
        raise ConfigError(msg("user name {user} must be {rule}", user=show(user), rule=AGENCY_RULE))
    chosen = list(dict.fromkeys(units))
    if not chosen:
        raise ConfigError(
            msg(
                "a unit user needs at least one unit: `--unit UNIT_ID` (e.g. --unit "
                "KZ-PIU-ASTANA) for each report unit_id {user} may submit",
                user=user,
            )
        )
    if len(chosen) > _MAX_UNITS:
        raise ConfigError(
            msg(
                "at most {limit} units per user, not {count}",
                limit=_MAX_UNITS,
                count=len(chosen),
            )
        )
    for unit in chosen:
        if not isinstance(unit, str) or not IDENTIFIER.fullmatch(unit):
            raise ConfigError(
                msg(
                    "--unit {unit} must be a report unit_id: {rule}",
                    unit=show(unit),
                    rule=IDENTIFIER_RULE,
                )
            )
    return chosen


def unit_record(
    user: str, units: Sequence[str], public_key: bytes, now: datetime
) -> dict[str, Any]:
    """The intel.ref.units record (schemas/unit.v1.avsc) of one unit user; ConfigError as for
    :func:`unit_ids`, or for a public key of the wrong size."""
    chosen = unit_ids(user, units)
    if len(public_key) != KEY_BYTES:
        raise ConfigError(
            msg(
                "a submission key is {size} bytes, not {count}",
                size=KEY_BYTES,
                count=len(public_key),
            )
        )
    return {
        "user": user,
        "units": chosen,
        "public_key": public_key,
        "key_id": key_id(public_key),
        "registered_at": to_millis(now),
    }


def _header(headers: Sequence[tuple[str, bytes | None]], name: str, limit: int) -> bytes:
    """The one value of header ``name``, at most ``limit`` bytes."""
    values = [value for key, value in headers if key == name]
    if not values:
        raise UnitNotAuthorisedError(
            name, "missing, so the submission is not signed; send it with `intelshare submit` "
            "and the unit's key (INTELSHARE_UNIT_KEY_FILE)"
        )  # fmt: skip
    if len(values) > 1:
        raise UnitNotAuthorisedError(name, f"appears {len(values)} times; it must appear once")
    value = values[0]
    if not value:
        raise UnitNotAuthorisedError(name, "is empty, so the submission is not signed")
    if len(value) > limit:
        raise UnitNotAuthorisedError(name, f"is {len(value)} bytes, over the {limit} it may be")
    return value


def _text(name: str, raw: bytes, pattern: re.Pattern[str], rule: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnitNotAuthorisedError(name, "is not UTF-8") from None
    if not pattern.fullmatch(text):
        raise UnitNotAuthorisedError(name, f"{show(text)} is not {rule}")
    return text


def verify_submission(
    value: bytes, headers: Iterable[tuple[str, bytes | None]] | None, registered: Registry
) -> Signer:
    """The unit user whose registered key signed ``value``; UnitNotAuthorisedError naming the
    header at fault when a header is missing or malformed, the user is not registered, the
    key id is not its registered one, or the signature does not verify."""
    found = list(headers or ())
    user = _text(
        USER_HEADER, _header(found, USER_HEADER, 63), AGENCY_ID, f"a user name: {AGENCY_RULE}"
    )
    kid = _text(KEY_ID_HEADER, _header(found, KEY_ID_HEADER, 16), _KEY_ID, "16 hex characters")
    signature = _header(found, SIGNATURE_HEADER, _SIGNATURE_BYTES)
    if len(signature) != _SIGNATURE_BYTES:
        raise UnitNotAuthorisedError(
            SIGNATURE_HEADER, f"is {len(signature)} bytes; an Ed25519 signature is 64"
        )
    record = registered(user)
    if record is None or record.get("user") != user:
        raise UnitNotAuthorisedError(
            USER_HEADER, f"{user} is not a registered unit user (none on intel.ref.units); "
            f"the operators register it with `intelshare users add --role unit {user} --unit ...`"
        )  # fmt: skip
    if record.get("key_id") != kid:
        raise UnitNotAuthorisedError(
            KEY_ID_HEADER, f"{kid} is not the registered key of user {user} "
            f"({show(record.get('key_id'))}): signed with a replaced or another user's key"
        )  # fmt: skip
    public = record.get("public_key")
    if not isinstance(public, bytes) or len(public) != KEY_BYTES or key_id(public) != kid:
        raise UnitNotAuthorisedError(
            USER_HEADER, f"the registered record of {user} holds no valid submission key; "
            "register it again with `intelshare users add --role unit`"
        )  # fmt: skip
    try:
        verify(
            Ed25519PublicKey.from_public_bytes(public), signature, signed_bytes(user, kid, value)
        )
    except SignatureError:
        raise UnitNotAuthorisedError(
            SIGNATURE_HEADER, f"does not verify with the registered key {kid} of user {user}: "
            "the report was changed after signing, or signed with another key"
        ) from None  # fmt: skip
    units = record.get("units") or []
    return Signer(user, tuple(u for u in units if isinstance(u, str)))


def check_unit(signer: Signer, unit_id: str) -> None:
    """UnitNotAuthorisedError unless ``signer`` may speak for ``unit_id``."""
    if unit_id not in signer.units:
        its = ", ".join(signer.units) or "none"
        raise UnitNotAuthorisedError(
            "unit_id", f"{unit_id} is not a unit of user {signer.user} (its units: {its})"
        )
