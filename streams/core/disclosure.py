"""Disclosures: build one for (report, agreement), and open one as its recipient.

The disclosure id is derived from event and agreement, so a replay gives the same id. The
payload is canonical JSON, encrypted to the recipient (``streams.crypto.seal``) with the
disclosure id and recipient as associated data; the exchange signs every other field. A
recipient verifies the signature first and only then decrypts.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from streams.core.canonical import canonical
from streams.core.crypto import (
    ENVELOPE_V1,
    ENVELOPE_V2,
    ENVELOPES,
    BatchSealer,
    Sealed,
    SubjectLinker,
    disclosure_aad,
    open_sealed,
    pseudonymiser,
    seal,
    sign,
)
from streams.core.crypto import verify as verify_signature
from streams.core.minimise import minimise, oversight_links, oversight_subjects
from streams.core.policy import Agreement
from streams.core.times import format_time, to_millis
from streams.errors import DecryptionError, SignatureError
from streams.i18n import msg

__all__ = [
    "NOTICE_FIELDS",
    "SIGNED_FIELDS",
    "build_disclosure",
    "disclosure_digest",
    "disclosure_id",
    "feed_entry",
    "open_disclosure",
    "payload_bytes",
    "pending_record",
    "seal_message",
    "signed_bytes",
]

_NAMESPACE = uuid.UUID("8d1f6a52-3c7e-4b1a-9e0f-5a2b7c4d6e81")
"""Fixed namespace of intelshare disclosure ids; changing it changes every id."""
_DOMAIN = "intelshare-disclosure-v1"
_DOMAIN_V2 = "intelshare-disclosure-v2"
_DOMAIN_V3 = "intelshare-disclosure-v3"
NOTICE_FIELDS = ("kind", "refers_to")
"""The fields disclosure v3 added: signed after SIGNED_FIELDS, under the v3 domain, when either
differs from its default (``kind`` "disclosure", ``refers_to`` None)."""
SIGNED_FIELDS = (
    "disclosure_id", "event_id", "agreement_id", "agreement_version", "recipient",
    "disclosed_at", "recipient_key_id", "ephemeral_public_key", "nonce", "ciphertext",
    "exchange_key_id", "envelope",
)  # fmt: skip
"""Every field of schemas/disclosure.v2.avsc but the signature, in the order signed. A
disclosure with envelope 1 (every one written before v2) is signed without ``envelope``, under
the v1 domain, as it always was; one with envelope 2 with it, under the v2 domain, so the
envelope cannot be changed without breaking the signature. A notice (disclosure v3, ``kind``
recall or correction, ``refers_to`` its disclosure) is signed with every field and then those
two, under the v3 domain."""


def disclosure_id(event_id: str, agreement_id: str) -> str:
    """Deterministic id of the disclosure of one event under one agreement (a UUID5)."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_id}|{agreement_id}"))


def signed_bytes(disclosure: Mapping[str, Any]) -> bytes:
    """What the exchange signs: every field but the signature, canonically encoded."""
    kind, refers_to = disclosure.get("kind", "disclosure"), disclosure.get("refers_to")
    if kind != "disclosure" or refers_to is not None:
        if not isinstance(kind, str) or not isinstance(refers_to, str | None):
            raise TypeError("kind and refers_to must be text")
        return canonical(_DOMAIN_V3, *(disclosure[f] for f in SIGNED_FIELDS), kind, refers_to)
    # a disclosure at the defaults is signed as before v3, so every earlier signature holds
    envelope = disclosure.get("envelope", ENVELOPE_V1)
    if envelope == ENVELOPE_V1:
        return canonical(_DOMAIN, *(disclosure[f] for f in SIGNED_FIELDS[:-1]))
    return canonical(_DOMAIN_V2, *(disclosure[f] for f in SIGNED_FIELDS))


def disclosure_digest(disclosure: Mapping[str, Any]) -> bytes:
    """SHA-256 of a disclosure's signed bytes: what its audit record names it by."""
    return hashlib.sha256(signed_bytes(disclosure)).digest()


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON of a payload: the exact bytes encrypted and digested."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build_disclosure(
    report: Mapping[str, Any],
    agreement: Agreement,
    *,
    recipient_public: X25519PublicKey,
    recipient_key_id: str,
    signing_key: Ed25519PrivateKey,
    exchange_key_id: str,
    pseudonym_secret: bytes,
    now: datetime,
    json_form: Mapping[str, Any] | None = None,
    sealer: BatchSealer | None = None,
    commit: Callable[[str], str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The disclosure record and its pending audit record (sequence -1, chain fields empty).

    ``report`` is an enriched intelshare.Report v2 record that ``agreement`` discloses; times
    are kept to the millisecond, as Avro carries them. With a ``sealer`` the payload is sealed
    in envelope v2 (one X25519 agreement per recipient and batch), else in envelope v1.
    With ``commit`` (a subject id to its commitment under the subject's data key,
    :mod:`streams.core.erasure`) the audit record names subjects by commitment, which an
    erasure makes unlinkable; without it, by the exchange-wide oversight link (as before).
    """
    now = to_millis(now)
    alias = pseudonymiser(pseudonym_secret, agreement.recipient)
    linker = SubjectLinker.from_secret(pseudonym_secret)
    payload = payload_bytes(minimise(report, agreement, alias, json_form=json_form))
    ident = disclosure_id(report["event_id"], agreement.id)
    disclosure, signed = seal_message(
        disclosure_id=ident,
        event_id=report["event_id"],
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        recipient=agreement.recipient,
        disclosed_at=now,
        recipient_key_id=recipient_key_id,
        exchange_key_id=exchange_key_id,
        kind="disclosure",
        refers_to=None,
        payload=payload,
        recipient_public=recipient_public,
        signing_key=signing_key,
        sealer=sealer,
    )
    pending = pending_record(
        "disclosure",
        disclosure_id=ident,
        event_id=report["event_id"],
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        recipient=agreement.recipient,
        purpose=agreement.purpose,
        legal_basis=agreement.legal_basis,
        now=now,
        fields_disclosed=list(agreement.disclose),
        subjects=oversight_subjects(report, agreement, alias, commit or linker),
        subject_links=oversight_links(report, agreement, commit or linker),
        payload_sha256=hashlib.sha256(payload).digest(),
        disclosure_sha256=hashlib.sha256(signed).digest(),
    )
    return disclosure, pending


def seal_message(
    *,
    disclosure_id: str,
    event_id: str,
    agreement_id: str,
    agreement_version: int,
    recipient: str,
    disclosed_at: datetime,
    recipient_key_id: str,
    exchange_key_id: str,
    kind: str,
    refers_to: str | None,
    payload: bytes,
    recipient_public: X25519PublicKey,
    signing_key: Ed25519PrivateKey,
    sealer: BatchSealer | None = None,
) -> tuple[dict[str, Any], bytes]:
    """A feed message (a Disclosure record: a disclosure, or a notice of ``kind``) and the
    bytes its signature covers: ``payload`` sealed to the recipient with the message id and
    recipient as associated data (envelope v2 with a ``sealer``, else v1), then every field
    signed by the exchange. The signed bytes are returned so a caller digests them once."""
    aad = disclosure_aad(disclosure_id, recipient)
    if sealer is None:
        envelope, sealed = ENVELOPE_V1, seal(payload, recipient_public, aad)
    else:
        envelope, sealed = ENVELOPE_V2, sealer.seal(payload, recipient_public, disclosure_id, aad)
    message: dict[str, Any] = {
        "disclosure_id": disclosure_id,
        "event_id": event_id,
        "agreement_id": agreement_id,
        "agreement_version": agreement_version,
        "recipient": recipient,
        "disclosed_at": disclosed_at,
        "recipient_key_id": recipient_key_id,
        "ephemeral_public_key": sealed.ephemeral_public_key,
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "exchange_key_id": exchange_key_id,
        "envelope": envelope,
        "kind": kind,
        "refers_to": refers_to,
    }
    signed = signed_bytes(message)
    message["signature"] = sign(signing_key, signed)
    return message, signed


def pending_record(
    kind: str,
    *,
    disclosure_id: str,
    event_id: str,
    agreement_id: str,
    agreement_version: int,
    recipient: str,
    purpose: str,
    legal_basis: str,
    now: datetime,
    fields_disclosed: list[str] | None = None,
    subjects: list[str] | None = None,
    subject_links: list[str] | None = None,
    payload_sha256: bytes = b"",
    disclosure_sha256: bytes = b"",
    refers_to: str | None = None,
    reason: str | None = None,
    useful: bool | None = None,
) -> dict[str, Any]:
    """An audit record of ``kind`` before sequencing (audit record v4 on intel.audit.pending:
    sequence -1, the chain fields empty, disclosed and recorded ``now``)."""
    return {
        "sequence": -1,
        "disclosure_id": disclosure_id,
        "event_id": event_id,
        "agreement_id": agreement_id,
        "agreement_version": agreement_version,
        "recipient": recipient,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "fields_disclosed": list(fields_disclosed or []),
        "subjects": list(subjects or []),
        "subject_links": list(subject_links or []),
        "payload_sha256": payload_sha256,
        "disclosure_sha256": disclosure_sha256,
        "disclosed_at": now,
        "recorded_at": now,
        "prev_hash": b"",
        "hash": b"",
        "key_id": "",
        "signature": b"",
        "kind": kind,
        "refers_to": refers_to,
        "reason": reason,
        "useful": useful,
    }


def open_disclosure(
    disclosure: Mapping[str, Any],
    private: X25519PrivateKey,
    exchange_keys: Mapping[str, Ed25519PublicKey],
) -> dict[str, Any]:
    """Verify the exchange's signature, then decrypt and return the payload.

    SignatureError when the signing key is unknown, the signature is bad or a field is missing
    or malformed; DecryptionError (opaque) when the payload does not open with ``private``.
    """
    try:
        public = exchange_keys.get(disclosure["exchange_key_id"])
        signed = signed_bytes(disclosure)
        signature = disclosure["signature"]
    except (KeyError, TypeError):
        raise SignatureError(
            msg("the disclosure is malformed: a signed field is missing or mistyped")
        ) from None
    if public is None:
        raise SignatureError(
            msg(
                "signed with unknown exchange key {exchange_key_id!r}",
                exchange_key_id=str(disclosure["exchange_key_id"])[:40],
            )
        )
    verify_signature(public, signature, signed)
    sealed = Sealed(
        disclosure["ephemeral_public_key"], disclosure["nonce"], disclosure["ciphertext"]
    )
    aad = disclosure_aad(disclosure["disclosure_id"], disclosure["recipient"])
    envelope = disclosure.get("envelope", ENVELOPE_V1)
    if envelope not in ENVELOPES:
        raise DecryptionError()
    context = None if envelope == ENVELOPE_V1 else disclosure["disclosure_id"]
    try:
        payload = json.loads(open_sealed(sealed, private, aad, disclosure_id=context))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DecryptionError() from None
    if not isinstance(payload, dict):
        raise DecryptionError()
    return payload


def feed_entry(disclosure: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """What the recipient reads of an opened disclosure (``intelshare consume``'s JSON form):
    its envelope's ids and time, and the decrypted payload. A notice (recall, correction)
    starts with its ``type`` and names the disclosure it concerns in ``refers_to``."""
    entry = {
        "disclosure_id": disclosure["disclosure_id"],
        "event_id": disclosure["event_id"],
        "agreement_id": disclosure["agreement_id"],
        "agreement_version": disclosure["agreement_version"],
        "recipient": disclosure["recipient"],
        "disclosed_at": format_time(disclosure["disclosed_at"]),
        "payload": dict(payload),
    }
    kind = disclosure.get("kind", "disclosure")
    if kind != "disclosure":
        entry = {"type": kind, **entry, "refers_to": disclosure.get("refers_to")}
    return entry
