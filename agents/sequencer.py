"""sequencer: intel.audit.pending -> intel.audit, the hash chain.

One partition in, one out, one transaction per batch: each entry gets the next sequence number,
the previous record's hash, its own hash and the exchange's signature. The chain head lives in
the compacted, internal ``intelshare.sequencer-changelog`` topic, written in the same
transaction, so after a crash the chain continues exactly where the committed records end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from agents.keys import ExchangeKeys
from agents.runner import Output
from agents.views import TopicView
from streams.chain import GENESIS, seal_record
from streams.codec import Codec
from streams.settings import Settings

__all__ = ["SequencerStep"]

HEAD = b"head"


class SequencerStep:
    """Chains pending audit entries into intel.audit."""

    name: str = "sequencer"
    views: Sequence[TopicView[Any]] = ()

    def __init__(
        self,
        settings: Settings,
        *,
        audits: Codec,
        keys: ExchangeKeys,
        clock: Callable[[], datetime],
    ) -> None:
        prefix = settings.topic_prefix
        self.source = prefix + "intel.audit.pending"
        self.audit = prefix + "intel.audit"
        self.changelog = prefix + "intelshare.sequencer-changelog"
        self.state_topic: str | None = self.changelog
        self.audits = audits
        self.keys = keys
        self.clock = clock
        self.next_sequence = 0
        self.head = GENESIS

    def restore(self, key: bytes, value: bytes | None) -> None:
        if key == HEAD and value is not None:
            head = json.loads(value)
            self.next_sequence = head["next_sequence"]
            self.head = bytes.fromhex(head["hash"])

    def process(self, record: ConsumerRecord[bytes, bytes]) -> list[Output]:
        pending = self.audits.decode(record.value)
        chained = seal_record(
            pending,
            sequence=self.next_sequence,
            prev_hash=self.head,
            key_id=self.keys.key_id,
            signing_key=self.keys.signing_key,
            now=self.clock(),
        )
        self.next_sequence += 1
        self.head = chained["hash"]
        head = {"next_sequence": self.next_sequence, "hash": self.head.hex()}
        return [
            Output(self.audit, record.key, self.audits.encode(chained)),
            Output(self.changelog, HEAD, json.dumps(head).encode()),
        ]
