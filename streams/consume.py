"""The partner agency's side: read its own feed, verify the exchange's signature, decrypt.

Consumer API: ``FeedReader(settings, agency_id, private_keys, exchange_keys).read(...)`` yields
one :class:`Received` per disclosure. A message that fails verification or decryption is
yielded as a failure with the reason, never as a valid disclosure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from kafka import TopicPartition

from streams.clients import consumer, translate_errors
from streams.codec import Codec
from streams.crypto import key_id
from streams.disclosure import open_disclosure
from streams.errors import IntelshareError, TopicMissingError
from streams.report import format_time
from streams.settings import Settings
from streams.topics import feed_topic

__all__ = ["FeedReader", "Received"]


class Received(NamedTuple):
    """One message of the feed, opened or refused."""

    disclosure: dict[str, Any] | None
    """The JSON object for the agency, or None when the message was refused."""
    problem: str | None
    """Why it was refused: it does not verify, does not decrypt, or is not Avro."""
    offset: int
    """Offset on the feed, for the record."""


class FeedReader:
    """Reads ``intel.feed.<agency>`` with the agency's own consumer group, read_committed."""

    def __init__(
        self,
        settings: Settings,
        agency_id: str,
        private_keys: X25519PrivateKey | Mapping[str, X25519PrivateKey],
        exchange_keys: Mapping[str, Ed25519PublicKey],
        codec: Codec,
    ) -> None:
        self.settings = settings
        self.agency_id = agency_id
        self.topic = settings.topic_prefix + feed_topic(agency_id)
        self.group_id = f"{settings.topic_prefix}intelshare-agency-{agency_id}"
        if isinstance(private_keys, X25519PrivateKey):
            raw = private_keys.public_key().public_bytes_raw()
            private_keys = {key_id(raw): private_keys}
        self.private_keys = dict(private_keys)
        self.exchange_keys = exchange_keys
        self.codec = codec

    def read(self, *, follow: bool = False, from_beginning: bool = False) -> Iterator[Received]:
        """Every new disclosure (or all, ``from_beginning``); with ``follow``, wait for more."""
        client = consumer(self.settings, group_id=self.group_id)
        try:
            with translate_errors(self.settings, f"reading {self.topic}"):
                numbers = client.partitions_for_topic(self.topic)
                if not numbers:
                    raise TopicMissingError(
                        f"no feed {self.topic}: is {self.agency_id} registered with "
                        "`intelshare agencies register`?"
                    )
                partitions = [TopicPartition(self.topic, p) for p in sorted(numbers)]
                client.assign(partitions)
                committed = {tp: client.committed(tp) for tp in partitions}
                for tp in partitions:
                    if from_beginning or committed[tp] is None:
                        client.seek_to_beginning(tp)
                ends = client.end_offsets(partitions)
                while follow or any(client.position(tp) < end for tp, end in ends.items()):
                    for batch in client.poll(timeout_ms=500).values():
                        for record in batch:
                            yield self._open(record.value, record.offset)
                    client.commit()
        finally:
            client.close()

    def _open(self, value: bytes, offset: int) -> Received:
        try:
            disclosure = self.codec.decode(value)
            if disclosure["recipient"] != self.agency_id:
                return Received(None, "addressed to another agency", offset)
            private = self.private_keys.get(disclosure["recipient_key_id"])
            if private is None:
                return Received(
                    None,
                    f"encrypted to key {disclosure['recipient_key_id']}, which was not given; "
                    "pass the key from before a rotation with another --key",
                    offset,
                )
            payload = open_disclosure(disclosure, private, self.exchange_keys)
        except IntelshareError as exc:
            return Received(None, f"{type(exc).__name__}: {exc}", offset)
        return Received(
            {
                "disclosure_id": disclosure["disclosure_id"],
                "event_id": disclosure["event_id"],
                "agreement_id": disclosure["agreement_id"],
                "agreement_version": disclosure["agreement_version"],
                "recipient": disclosure["recipient"],
                "disclosed_at": format_time(disclosure["disclosed_at"]),
                "payload": payload,
            },
            None,
            offset,
        )
