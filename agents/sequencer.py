"""sequencer: intel.audit.pending -> intel.audit (the hash chain) and intel.audit.checkpoints.

One partition in, one out, one transaction per batch: each entry gets the next sequence number,
the previous record's hash, its own hash and the exchange's signature. The chain head and the
Merkle frontier live in the compacted, internal ``intelshare.sequencer-changelog`` topic,
written in the same transaction, so after a crash the chain continues exactly where the
committed records end. A signed checkpoint (tree size and RFC 9162 root) follows new records
within ``checkpoint_seconds`` or every ``checkpoint_records``.
"""

from __future__ import annotations

import json
from datetime import datetime

from aiokafka.structs import ConsumerRecord

from agents.base import Agent, Context, Output
from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.merkle import Frontier, leaf_hash

__all__ = ["SequencerAgent"]

HEAD = b"head"


class SequencerAgent(Agent):
    """Chains pending audit entries into intel.audit and signs checkpoints of the log."""

    name = "sequencer"

    def __init__(self, context: Context) -> None:
        settings = context.settings
        self.source = context.topics.audit_pending
        self.audit = context.topics.audit
        self.checkpoint_topic = context.topics.checkpoints
        self.changelog = context.topics.changelog(self.name)
        self.state_topic = self.changelog
        self.audits = context.codec("AuditRecord")
        self.checkpoints = context.codec("Checkpoint")
        self.keys = context.keys()
        self.clock = context.clock
        self.every_seconds = settings.checkpoint_seconds
        self.every_records = settings.checkpoint_records
        self.head = GENESIS
        self.frontier = Frontier()
        self.checkpointed = 0
        self.first_unchecked: datetime | None = None
        self.dirty = False

    @property
    def next_sequence(self) -> int:
        """The sequence number the next record gets: the size of the log."""
        return self.frontier.size

    def restore(self, key: bytes, value: bytes | None) -> None:
        if key == HEAD and value is not None:
            head = json.loads(value)
            self.head = bytes.fromhex(head["hash"])
            self.frontier = Frontier(head["size"], [bytes.fromhex(h) for h in head["frontier"]])
            self.checkpointed = head["checkpointed"]
            if self.frontier.size > self.checkpointed:
                self.first_unchecked = self.clock()

    def _state(self) -> Output:
        head = {
            "size": self.frontier.size,
            "hash": self.head.hex(),
            "frontier": [h.hex() for h in self.frontier.roots],
            "checkpointed": self.checkpointed,
        }
        return Output(self.changelog, HEAD, json.dumps(head).encode())

    def process(self, record: ConsumerRecord[bytes, bytes]) -> list[Output]:
        pending = self.audits.decode(record.value)
        now = self.clock()
        chained = seal_record(
            pending,
            sequence=self.next_sequence,
            prev_hash=self.head,
            key_id=self.keys.key_id,
            signing_key=self.keys.signing_key,
            now=now,
        )
        self.head = chained["hash"]
        self.frontier.append(leaf_hash(chained["hash"]))
        self.first_unchecked = self.first_unchecked or now
        self.dirty = True
        return [Output(self.audit, record.key, self.audits.encode(chained))]

    def flush(self) -> list[Output]:
        """The new chain head after a batch, and a signed checkpoint when new records have
        waited long enough or are many."""
        outputs = [self._state()] if self.dirty else []
        self.dirty = False
        waiting = self.frontier.size - self.checkpointed
        now = self.clock()
        since = self.first_unchecked or now
        if waiting == 0 or (
            waiting < self.every_records and (now - since).total_seconds() < self.every_seconds
        ):
            return outputs
        checkpoint = sign_checkpoint(
            tree_size=self.frontier.size,
            root_hash=self.frontier.root(),
            head_hash=self.head,
            key_id=self.keys.key_id,
            signing_key=self.keys.signing_key,
            now=now,
        )
        self.checkpointed = self.frontier.size
        self.first_unchecked = None
        key = str(self.frontier.size).encode()
        return [
            Output(self.checkpoint_topic, key, self.checkpoints.encode(checkpoint)),
            self._state(),
        ]
