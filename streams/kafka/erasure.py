"""``intelshare erase``: wait until the agents have processed the reports on their way, find
who received a subject's data, notify them, record the erasure, destroy the subject's data
key, then purge the processed reports in clear between the agents (see
:mod:`streams.core.erasure` and :mod:`streams.core.purge` for the design).

Runs on the exchange's machine: it needs the exchange's signing key (the notices are signed
like disclosures) and pseudonymisation secret (the subject's oversight link and key lookup).
Order matters: the drain comes first, so a refusal leaves nothing half done and every
disclosure of the subject is in the log before erase reads it; notices and audit records are
written and acknowledged next, the tombstones after them, because once the key is gone
nothing can tell which records were about the subject; the purge last. A run that fails
before the tombstones can be run again (the notices then go again, under new
ids); a run after the key is gone finds only records written before subject keys existed
(by their oversight link) and records the erasure again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from streams.core.codec import record_codec
from streams.core.crypto import SubjectLinker, key_id
from streams.core.disclosure import disclosure_digest
from streams.core.erasure import (
    KeyLookup,
    check_erasure,
    commitment,
    erasure_notice,
    erasure_record,
    received,
)
from streams.core.keyfiles import load_ed25519_private, load_pseudonym_secret
from streams.core.purge import ROLL_KEY, check_wait
from streams.errors import NotAuthorisedError, TopicMissingError
from streams.i18n import msg
from streams.kafka.auditlog import agencies, audit_records
from streams.kafka.clients import latest_by_key, producer, translate_errors
from streams.kafka.purge import drain_pipeline, purge, purge_dead_letters
from streams.settings import Settings
from streams.topics import CATALOGUE, CHAIN_KEY, SUBJECT_KEYS, Topics

__all__ = ["ROLL_KEY", "Erasure", "commitment_of", "erase", "roll_erased", "roll_wait"]


class Erasure(NamedTuple):
    """What ``erase`` did."""

    recipients: list[str]
    """The agencies notified (those that received a disclosure naming the subject)."""
    disclosures: int
    """The disclosures found that named the subject."""
    key_destroyed: bool
    """True when the subject had a data key, now tombstoned."""
    purged: int = 0
    """Partitions of the plaintext topics between the agents purged (streams.core.purge)."""
    dead_letters: int = 0
    """Dead letters that named the subject, removed (streams.core.purge)."""


def erase(
    settings: Settings,
    subject: object,
    reason: object,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    wait: float | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Erasure:
    """Erase ``subject`` for ``reason``: once the agents have processed every report on its
    way (or PipelineBehindError within ``wait`` seconds, by default ``Settings.erase_wait``,
    with nothing done; ``say`` hears that it waits), notices and erasure
    records, then the tombstones of its data key, its commitment and its reference record,
    then the processed reports in clear between the agents and the dead letters that name the
    subject (:mod:`streams.core.purge`).
    ErasureOrderError for a bad id or reason."""
    subject_id, why = check_erasure(subject, reason)
    wait = check_wait(settings.erase_wait if wait is None else wait)
    drained = drain_pipeline(settings, wait, say=say)
    signing_key = load_ed25519_private(settings.home / "keys" / "exchange.key")
    signing_id = key_id(signing_key.public_key().public_bytes_raw())
    secret = load_pseudonym_secret(settings.home / "keys" / "exchange.pseudonym.key")
    topics = Topics(settings.topic_prefix)
    link = SubjectLinker.from_secret(secret)(subject_id)
    lookup = KeyLookup(secret)(subject_id)
    held = latest_by_key(settings, topics.subject_keys).get(lookup.encode())
    candidates = {link}
    if held is not None:
        key = record_codec(settings.schemas_dir, "SubjectKey").decode(held)["key"]
        candidates.add(commitment(key, subject_id))
    found = _as_received(received(audit_records(settings), candidates), candidates, subject_id)
    now = clock()
    registered = agencies(settings)
    notices = record_codec(settings.schemas_dir, "Disclosure")
    audits = record_codec(settings.schemas_dir, "AuditRecord")
    outputs: list[tuple[str, bytes, bytes | None]] = []
    for recipient, (ids, forms) in sorted(found.items()):
        agency = registered.get(recipient)
        digest = b""
        if agency is not None:
            notice = erasure_notice(
                subject_link=link, recipient=recipient,
                recipient_public=X25519PublicKey.from_public_bytes(agency["public_key"]),
                recipient_key_id=agency["key_id"], signing_key=signing_key,
                exchange_key_id=signing_id, subjects=forms, disclosures=ids, reason=why, now=now,
            )  # fmt: skip
            digest = disclosure_digest(notice)
            key_bytes = notice["disclosure_id"].encode()
            outputs.append((topics.feed(recipient), key_bytes, notices.encode(notice)))
        record = erasure_record(
            subject_link=link, recipient=recipient if agency is not None else "",
            reason=why, notice_sha256=digest, disclosures=ids, now=now,
        )  # fmt: skip
        outputs.append((topics.audit_pending, CHAIN_KEY, audits.encode(record)))
    if not found:
        record = erasure_record(
            subject_link=link, recipient="", reason=why, notice_sha256=b"", disclosures=[],
            now=now,
        )  # fmt: skip
        outputs.append((topics.audit_pending, CHAIN_KEY, audits.encode(record)))
    tombstones: list[tuple[str, bytes, bytes | None]] = [
        (topics.subject_keys, lookup.encode(), None),
        (topics.subject_commitments, link.encode(), None),
    ]
    tombstones.append((topics.subjects, subject_id.encode(), None))
    _send(settings, outputs)
    _send(settings, tombstones)
    return Erasure(
        sorted(r for r in found if r in registered),
        sum(len(ids) for ids, _ in found.values()),
        held is not None,
        purge(settings, drained),
        purge_dead_letters(settings, subject_id),
    )


def _as_received(
    found: dict[str, tuple[list[str], list[str]]], candidates: set[str], subject_id: str
) -> dict[str, tuple[list[str], list[str]]]:
    """``found`` with the subject as each agency received it: an audit record names a subject
    disclosed in clear by its commitment (streams.core.minimise.oversight_subjects), and the
    agency's notice names it by the id the agency holds."""
    return {
        recipient: (ids, list(dict.fromkeys(subject_id if f in candidates else f for f in forms)))
        for recipient, (ids, forms) in found.items()
    }


def _send(settings: Settings, items: list[tuple[str, bytes, bytes | None]]) -> None:
    """Send and wait until the broker has every one (acks=all)."""
    client = producer(settings)
    try:
        with translate_errors(settings, msg("erasing a subject")):
            futures = [client.send(topic, key=key, value=value) for topic, key, value in items]
            client.flush(timeout=settings.request_timeout * 4)
            for future in futures:
                future.get(timeout=settings.request_timeout)
    finally:
        client.close(timeout=settings.request_timeout)


def commitment_of(settings: Settings, link: str) -> str | None:
    """The commitment audit records name the subject of oversight link ``link`` by, from
    ``intel.keys.commitments``; None when it has none (never keyed, or erased) or when these
    credentials may not read that topic."""
    topic = Topics(settings.topic_prefix).subject_commitments
    try:
        held = latest_by_key(settings, topic).get(link.encode())
    except (NotAuthorisedError, TopicMissingError):
        return None
    if held is None:
        return None
    return str(record_codec(settings.schemas_dir, "SubjectCommitment").decode(held)["commitment"])


def roll_wait() -> float:
    """Seconds after which the broker rolls the active segment of a destroyable topic on the
    next append, and drops a tombstone at the next cleaning: the longer of the catalogue's
    ``segment.ms`` and ``delete.retention.ms`` there, and a few seconds."""
    config = next(s.config for s in CATALOGUE if s.name == SUBJECT_KEYS)
    longest = max(int(config["segment.ms"]), int(config["delete.retention.ms"]))
    return longest / 1000 + 5


def roll_erased(
    settings: Settings,
    wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Make the broker compact the erased records away now rather than at the next write.

    A compacted topic's active segment is never cleaned, and Kafka rolls it only when a record
    is appended after ``segment.ms``: on a quiet exchange the destroyed key, and the tombstone
    that names a subject's reference record by its id, would stay on disk until the next
    subject is keyed. So, twice: wait ``wait`` seconds (:func:`roll_wait`), then append a
    tombstone of :data:`ROLL_KEY` to the key topics and ``intel.ref.subjects``. The first roll
    lets the cleaner drop the key and the reference record (leaving their tombstones); the
    second, once ``delete.retention.ms`` has passed, the tombstones. The broker deletes the
    old segment files ``file.delete.delay.ms`` (a minute) after each cleaning."""
    topics = Topics(settings.topic_prefix)
    names = (topics.subject_keys, topics.subject_commitments, topics.subjects)
    pause = roll_wait() if wait is None else wait
    for step in (1, 2):
        say(
            msg(
                "rolling the erased topics' segments ({step}/2) in {seconds} s",
                step=step,
                seconds=f"{pause:.0f}",
            )
        )
        sleep(pause)
        _send(settings, [(name, ROLL_KEY, None) for name in names])
