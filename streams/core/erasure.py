"""Erasure by key destruction: one data key per subject, keyed commitments to subject ids, and
the audit record of an erasure. Pure: the keys' topic and the audit log are the caller's.

Why a key per subject, not per report. An erasure order names a person ("erase what you hold
about TJ-P-004211"), and one report names several people: with a key per report, erasing one
subject would destroy what the report holds about the others, or the report would need one
key per (report, subject) anyway. A key per subject is destroyed once for every report that
names that person, the key topic holds one record per person (not per report), and the
commitments below need exactly that key. What it does not do: erase a whole report whose
subjects all stay (that is a recall, issue 13 part A).

Commitments. Audit records name subjects by ``commitment(key, id)``, an HMAC-SHA256 of the id
under the subject's own key, never by the id itself (nor by an HMAC under one exchange-wide
key, which anyone holding that key could recompute from a guessed id forever). While the key
exists, the exchange recomputes the commitment, and the oversight body, which must not hold
the keys, reads it from ``intel.keys.commitments``, keyed by the subject's oversight link
(which it computes from the id with its link key): so ``audit query --subject X --link-key``
finds X's records while X lives. Once ``intelshare erase`` has tombstoned the key and that
entry, the commitment is 26 random-looking characters that no one can link to the id, yet the
record's hash and signature, which cover the commitment and not the key, still verify: the
chain is untouched. (An oversight body that copied the commitment before the erasure can still
link it: what it copied is as much its own to erase as what an agency received.)

Finding the erasure record afterwards. The erasure record carries, instead of a commitment,
the subject's oversight link (:class:`streams.core.crypto.SubjectLinker`, HMAC under the
oversight link key that ``intelshare keys export-link`` gives the oversight body), so
``intelshare audit query --subject X --link-key FILE`` still finds it: whoever knows X and holds
the link key learns that X was erased, when and why, and nothing of what was held. That is a
deliberate, stated leak: it lets an oversight body check that an order was carried out.

The keys' topic (``intel.keys.subjects``, compacted, read and written only by the worker and
the operators) is keyed by :class:`KeyLookup`, an HMAC of the subject id under a key derived
from the exchange's pseudonymisation secret, so not even its message keys hold an id in clear.
Erasing publishes a tombstone. The broker never cleans a topic's active segment, and rolls it
only when a record is appended after ``segment.ms``; the catalogue sets that, the cleaner's
thresholds and the tombstones' lifetime to a minute (``streams.topics``), and ``erase --roll``
appends two roll markers a minute apart (``streams.kafka.erasure.roll_erased``), so the key's
bytes, and then the tombstones, leave the broker's disks within about four minutes. Without
``--roll`` they leave at the next writes to the key topic (the next new subjects).

What still holds a subject id or narrative after an erasure (``intelshare retention
report`` shows each topic's retention):

- nothing in clear on the plaintext intermediate topics (``intel.submissions``,
  ``intel.validated``, ``intel.enriched``) nor in the dead letters: ``erase`` waits for the
  agents, then deletes what they processed and the dead letters whose bytes name the subject
  (:mod:`streams.core.purge`); a dead letter holding the id in a form a byte search cannot
  see stays for its window (14 days);
- ``intel.ref.subjects`` until ``erase``'s tombstone is compacted away (minutes);
- enrich's correlation index names subjects by :class:`streams.core.dedup.SubjectIndex`, a
  hash under the exchange's secret, never by id; its changelog keeps an entry until the key
  is overwritten;
- the audit records' ``subjects`` field holds the pseudonym an agency received, or, where an
  agreement disclosed ids in clear, the subject's commitment
  (:func:`streams.core.minimise.oversight_subjects`), never the id; records written before
  that, or before subject keys existed (links under the exchange-wide link key), keep what
  they hold: erasure cannot reach those without rewriting the log, which the chain forbids.
  A pseudonym is an HMAC under the exchange's pseudonymisation secret, so whoever holds that
  secret (the exchange) can still test a guessed id against it, and against enrich's index
  keys, after the erasure: deriving them from the subject key instead would close that, and
  was not done;
- ``intel.audit.pending`` (30 days) holds what the log holds; the oversight index, the
  oversight body's copy, too; route keeps the keys it made in memory only until its view of
  the key topic has them.

What the recipients hold is theirs to erase: the
erasure notice asks them to.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streams.core.disclosure import payload_bytes, pending_record, seal_message
from streams.core.fields import IDENTIFIER, IDENTIFIER_RULE, clean_text, show
from streams.core.keyednames import SecretNames, keyed_name
from streams.core.times import format_time, to_millis
from streams.errors import DecryptionError, ErasureOrderError, KeyFileError
from streams.i18n import msg

__all__ = [
    "ERASURE",
    "MAX_REASON",
    "SUBJECT_KEY_BYTES",
    "KeyLookup",
    "check_erasure",
    "commitment",
    "erasure_id",
    "erasure_notice",
    "erasure_record",
    "new_subject_key",
    "open_field",
    "received",
    "seal_field",
]

ERASURE = "erasure"
"""The ``kind`` of an erasure's audit record (audit record v4)."""
SUBJECT_KEY_BYTES = 32
"""A subject's data key: 256 bits, for HMAC-SHA256 commitments and AES-256-GCM."""
MAX_REASON = 1000
"""The longest reason an erasure may give, in characters."""

_COMMITMENT = "intelshare subject commitment v1|"
_FIELD = b"intelshare subject field v1|"
_NONCE = 12
_NAMESPACE = uuid.UUID("5b0c7e1a-2f4d-4c8e-9a6b-3d1e8f7a2c54")
"""Fixed namespace of erasure ids."""


def new_subject_key(random: Callable[[int], bytes] = os.urandom) -> bytes:
    """A fresh data key for one subject (``random`` is a parameter so tests can fix it)."""
    key = random(SUBJECT_KEY_BYTES)
    if len(key) != SUBJECT_KEY_BYTES:
        raise KeyFileError(msg("a subject key must be {size} bytes", size=SUBJECT_KEY_BYTES))
    return key


def commitment(subject_key: bytes, subject_id: str) -> str:
    """``sc-`` and 26 base32 characters of HMAC-SHA256(subject_key, domain | id): what audit
    records name a subject by; unlinkable to the id once the key is destroyed."""
    if len(subject_key) != SUBJECT_KEY_BYTES:
        raise KeyFileError(msg("a subject key must be {size} bytes", size=SUBJECT_KEY_BYTES))
    return keyed_name(subject_key, "sc-", _COMMITMENT + subject_id)


class KeyLookup(SecretNames):
    """The message key of a subject's data key on ``intel.keys.subjects``: ``sk-`` and 26 base32
    characters of HMAC-SHA256 under HKDF(pseudonymisation secret, "...key lookup v1")."""

    PREFIX = "sk-"
    INFO = b"intelshare subject key lookup v1"
    __slots__ = ()


def seal_field(
    subject_key: bytes, plaintext: bytes, context: str, nonce: bytes | None = None
) -> bytes:
    """AES-256-GCM of ``plaintext`` under the subject's key: nonce then ciphertext and tag.
    ``context`` (e.g. the event id and field name) is bound as associated data, so a sealed
    field cannot be moved to another report or field unnoticed."""
    nonce = os.urandom(_NONCE) if nonce is None else nonce
    return nonce + AESGCM(subject_key).encrypt(nonce, plaintext, _FIELD + context.encode())


def open_field(subject_key: bytes | None, sealed: bytes, context: str) -> bytes:
    """The plaintext of :func:`seal_field`; one opaque DecryptionError whatever went wrong (no
    key any more, a wrong key, another context, altered bytes)."""
    if subject_key is None or len(subject_key) != SUBJECT_KEY_BYTES or len(sealed) <= _NONCE:
        raise DecryptionError()
    try:
        aead = AESGCM(subject_key)
        return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _FIELD + context.encode())
    except InvalidTag:
        raise DecryptionError() from None


def check_erasure(subject_id: object, reason: object) -> tuple[str, str]:
    """The subject id and reason of an erasure order, or ErasureOrderError naming what is
    wrong: an id as reports write it, a reason of 1 to 1000 characters on one line."""
    if not isinstance(subject_id, str) or not IDENTIFIER.fullmatch(subject_id):
        raise ErasureOrderError(
            msg(
                "--subject {value}: a subject id is {rule}",
                value=show(subject_id),
                rule=IDENTIFIER_RULE,
            )
        )
    if not isinstance(reason, str) or not reason.strip():
        raise ErasureOrderError(
            msg("--reason: say why the subject is erased (e.g. the order's reference)")
        )
    if len(reason) > MAX_REASON or not clean_text(reason):
        raise ErasureOrderError(
            msg(
                "--reason: at most {limit} characters on one line, without control characters",
                limit=MAX_REASON,
            )
        )
    return subject_id, reason.strip()


def erasure_id(subject_link: str, recipient: str, now: datetime) -> str:
    """The id of one erasure's record for one recipient (a UUID5): unique in the log like a
    disclosure id, the same for the same erasure written twice."""
    moment = to_millis(now).isoformat()
    return str(uuid.uuid5(_NAMESPACE, f"{subject_link}|{recipient}|{moment}"))


def erasure_record(
    *,
    subject_link: str,
    recipient: str,
    reason: str,
    notice_sha256: bytes,
    disclosures: list[str],
    now: datetime,
) -> dict[str, Any]:
    """The pending audit record (sequence -1, chain fields empty) of an erasure, for one
    recipient that received the subject's data (its notice's digest), or for the exchange
    alone (``recipient`` empty, no notice) when none did.

    It names the subject only by ``subject_link`` (see the module's docstring), lists in
    ``fields_disclosed`` the disclosures the notice concerns, and holds the reason."""
    now = to_millis(now)
    return pending_record(
        ERASURE,
        disclosure_id=erasure_id(subject_link, recipient, now),
        event_id="",
        agreement_id="",
        agreement_version=0,
        recipient=recipient,
        purpose="erasure",
        legal_basis="",
        now=now,
        fields_disclosed=disclosures,
        subject_links=[subject_link],
        disclosure_sha256=notice_sha256,
        reason=reason,
    )


def erasure_notice(
    *,
    subject_link: str,
    recipient: str,
    recipient_public: X25519PublicKey,
    recipient_key_id: str,
    signing_key: Ed25519PrivateKey,
    exchange_key_id: str,
    subjects: list[str],
    disclosures: list[str],
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """The erasure notice to one recipient, on its feed like a disclosure (disclosure v3 of
    kind ``erasure``, signed by the exchange, the payload encrypted to the agency;
    ``intelshare consume`` prints it with ``"type": "erasure"``): the
    subject as the agency received it (``subjects``: its pseudonym, or the id where the
    agreement disclosed it in clear; the agency holds it already), the disclosures concerned
    and the reason. Its id is that of the erasure record that names its digest."""
    now = to_millis(now)
    ident = erasure_id(subject_link, recipient, now)
    payload = {
        "notice": ERASURE,
        "subjects": list(subjects),
        "disclosures": list(disclosures),
        "reason": reason,
        "erased_at": format_time(now),
    }
    notice, _ = seal_message(
        disclosure_id=ident,
        event_id="",
        agreement_id=ERASURE,
        agreement_version=0,
        recipient=recipient,
        disclosed_at=now,
        recipient_key_id=recipient_key_id,
        exchange_key_id=exchange_key_id,
        kind=ERASURE,
        refers_to=None,
        payload=payload_bytes(payload),
        recipient_public=recipient_public,
        signing_key=signing_key,
    )
    return notice


def received(
    records: list[dict[str, Any]], candidates: set[str]
) -> dict[str, tuple[list[str], list[str]]]:
    """Per recipient, the disclosures whose ``subject_links`` hold one of ``candidates`` (the
    subject's commitment or oversight link) and the subject as each named it (``subjects`` is
    in the same order as ``subject_links``)."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for record in records:
        if (record.get("kind") or "disclosure") != "disclosure":
            continue
        links = record.get("subject_links") or []
        for index, link in enumerate(links):
            if link in candidates:
                ids, forms = found.setdefault(record["recipient"], ([], []))
                ids.append(record["disclosure_id"])
                subjects = record["subjects"]
                form = subjects[index] if index < len(subjects) else None
                if form is not None and form not in forms:
                    forms.append(form)
                break
    return found
