"""The partner agency's side: read its own feed, verify the exchange's signature, decrypt, and
sign a consultation receipt for each disclosure opened.

Consumer API: ``FeedReader(settings, agency_id, private_keys, exchange_keys, codec).read(...)``
yields one :class:`Received` per message. A message that fails verification or decryption is
yielded as a refusal with the reason, never as a valid disclosure, and the reader never commits
past it: that partition stops there, so the next run (given the missing key) starts from it.
Only ``skip_refused=True`` moves past a refusal, and each one skipped is then written to a
record file (:func:`skipped_file`) as well as reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from streams.audit.checkpoint import verify_checkpoint
from streams.audit.receipts import make_receipt
from streams.core.codec import Codec, record_codec
from streams.core.crypto import key_id
from streams.core.disclosure import feed_entry, open_disclosure
from streams.core.keyfiles import published_exchange_keys
from streams.core.times import format_time
from streams.errors import IntelshareError, TopicMissingError
from streams.i18n import msg
from streams.kafka.auditlog import latest_checkpoint
from streams.kafka.clients import consumer, producer, translate_errors
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["FeedReader", "ReceiptSender", "Received", "skipped_file"]

log = structlog.get_logger(__name__)


class Received(NamedTuple):
    """One message of the feed, opened or refused."""

    disclosure: dict[str, Any] | None
    """The JSON object for the agency, or None when the message was refused."""
    problem: str | None
    """Why it was refused: it does not verify, does not decrypt, or is not Avro."""
    offset: int
    """Offset on the feed, for the record."""
    partition: int = 0
    """Partition of the feed."""
    missing_key: str | None = None
    """The id of the agency key the disclosure was encrypted to, when that key was not given."""


def skipped_file(settings: Settings, agency_id: str) -> Path:
    """Where ``consume --skip-refused`` records each message it moved past (JSON lines)."""
    return settings.home / "skipped" / f"{agency_id}.jsonl"


class FeedReader:
    """Reads ``intel.feed.<agency>`` with the agency's own consumer group, read_committed."""

    def __init__(
        self,
        settings: Settings,
        agency_id: str,
        private_keys: X25519PrivateKey | Mapping[str, X25519PrivateKey],
        exchange_keys: Mapping[str, Ed25519PublicKey],
        codec: Codec | None = None,
    ) -> None:
        self.settings = settings
        self.agency_id = agency_id
        names = Topics(settings.topic_prefix)
        self.topic = names.feed(agency_id)
        self.group_id = names.agency_group(agency_id)
        if isinstance(private_keys, X25519PrivateKey):
            raw = private_keys.public_key().public_bytes_raw()
            private_keys = {key_id(raw): private_keys}
        self.private_keys = dict(private_keys)
        self.exchange_keys = exchange_keys
        self.codec = codec or record_codec(settings.schemas_dir, "Disclosure")
        self.stopped: dict[int, int] = {}
        """Partition -> offset of the refusal each stopped at in the last :meth:`read`."""

    def read(
        self,
        *,
        follow: bool = False,
        from_beginning: bool = False,
        skip_refused: bool = False,
        commit: bool = True,
    ) -> Iterator[Received]:
        """Every new disclosure (or all, ``from_beginning``); with ``follow``, wait for more.

        Offsets are committed only past what was yielded as opened (or skipped, with
        ``skip_refused``); a partition stops at its first refusal. With ``commit=False`` the
        reader only looks: it commits nothing, records no skip and reads past refusals (each
        still yielded), so ``consume``'s position is left as it was (the TAXII server).
        """
        client = consumer(self.settings, group_id=self.group_id)
        self.stopped = {}
        try:
            with translate_errors(self.settings, msg("reading {topic}", topic=self.topic)):
                partitions = self._assign(client, from_beginning)
                ends = client.end_offsets(partitions)
                while follow or any(
                    tp.partition not in self.stopped and client.position(tp) < end
                    for tp, end in ends.items()
                ):
                    done: dict[TopicPartition, int] = {}
                    for tp, batch in client.poll(timeout_ms=500).items():
                        for record in batch:
                            received = self._open(record.value, record.offset, tp.partition)
                            refused = received.disclosure is None and commit
                            if refused and not skip_refused:
                                self.stopped[tp.partition] = record.offset
                                client.pause(tp)
                                client.seek(tp, record.offset)
                                yield received
                                break
                            if refused:
                                self._record_skip(received)
                            yield received
                            done[tp] = record.offset + 1
                    if done and commit:
                        client.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in done.items()})
        finally:
            client.close()

    def _assign(self, client: Any, from_beginning: bool) -> list[TopicPartition]:
        numbers = client.partitions_for_topic(self.topic)
        if not numbers:
            raise TopicMissingError(
                msg(
                    "no feed {topic}: is {agency_id} registered with `intelshare agencies "
                    "register`?",
                    topic=self.topic,
                    agency_id=self.agency_id,
                )
            )
        partitions = [TopicPartition(self.topic, p) for p in sorted(numbers)]
        client.assign(partitions)
        for tp in partitions:
            if from_beginning or client.committed(tp) is None:
                client.seek_to_beginning(tp)
        return partitions

    def _record_skip(self, received: Received) -> None:
        path = skipped_file(self.settings, self.agency_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        entry = {
            "feed": self.topic,
            "partition": received.partition,
            "offset": received.offset,
            "missing_key": received.missing_key,
            "problem": received.problem,
            "skipped_at": format_time(datetime.now(UTC)),
        }
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def _open(self, value: bytes, offset: int, partition: int) -> Received:
        try:
            disclosure = self.codec.decode(value)
            if disclosure["recipient"] != self.agency_id:
                return Received(None, "addressed to another agency", offset, partition)
            wanted = disclosure["recipient_key_id"]
            private = self.private_keys.get(wanted)
            if private is None:
                given = ", ".join(sorted(self.private_keys)) or "none"
                problem = (
                    f"disclosure {disclosure['disclosure_id']} is encrypted to agency key "
                    f"{wanted}, which was not given (keys given: {given}); pass that key with "
                    f"--key (after a rotation it is kept as {self.agency_id}.{wanted}.key)"
                )
                return Received(None, problem, offset, partition, wanted)
            payload = open_disclosure(disclosure, private, self.exchange_keys)
        except IntelshareError as exc:
            return Received(None, f"{type(exc).__name__}: {exc}", offset, partition)
        return Received(feed_entry(disclosure, payload), None, offset, partition)


class ReceiptSender:
    """Signs and publishes a consultation receipt for every disclosure opened, naming the
    latest signed checkpoint it could read and verify (receipts that gossip, issue 12)."""

    def __init__(
        self,
        settings: Settings,
        agency_id: str,
        key: Ed25519PrivateKey,
        exchange_keys: Mapping[str, Ed25519PublicKey] | None = None,
    ) -> None:
        """``exchange_keys`` verify the checkpoint a receipt names (default: every
        ``exchange*.pub`` of ``$INTELSHARE_HOME/keys``)."""
        self.settings = settings
        self.agency_id = agency_id
        self.key = key
        self.exchange_keys = exchange_keys
        self.topic = Topics(settings.topic_prefix).receipts
        self.codec = record_codec(settings.schemas_dir, "Receipt")
        self._producer: Any = None
        self._checkpoint: Mapping[str, Any] | bool | None = False  # False: not read yet

    def send(self, disclosure_id: str) -> None:
        """Sign and send the receipt of one disclosure (flushed on :meth:`close`)."""
        self._producer = self._producer or producer(self.settings)
        if self._checkpoint is False:
            self._checkpoint = seen_checkpoint(self.settings, self.exchange_keys)
        checkpoint = self._checkpoint if isinstance(self._checkpoint, Mapping) else None
        receipt = make_receipt(
            disclosure_id, self.agency_id, self.key, datetime.now(UTC), checkpoint
        )
        value = self.codec.encode(receipt)
        with translate_errors(self.settings, msg("sending a receipt to {topic}", topic=self.topic)):
            self._producer.send(self.topic, key=disclosure_id.encode(), value=value)

    def close(self) -> None:
        """Flush and close; idempotent."""
        if self._producer is not None:
            client, self._producer = self._producer, None
            with translate_errors(
                self.settings, msg("sending receipts to {topic}", topic=self.topic)
            ):
                client.flush(timeout=self.settings.request_timeout)
                client.close(timeout=self.settings.request_timeout)


def seen_checkpoint(
    settings: Settings, keys: Mapping[str, Ed25519PublicKey] | None = None
) -> Mapping[str, Any] | None:
    """The latest signed checkpoint, if this credential may read it and it verifies with
    ``keys`` (default the exchange keys of ``$INTELSHARE_HOME/keys``); None otherwise (the
    receipt then names none)."""
    try:
        checkpoint = latest_checkpoint(settings)
        if checkpoint is not None:
            verify_checkpoint(checkpoint, keys or published_exchange_keys(settings.home / "keys"))
    except IntelshareError as exc:
        log.info("receipt_names_no_checkpoint", reason=str(exc))
        return None
    return checkpoint
