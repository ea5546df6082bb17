"""sequencer: intel.audit.pending -> intel.audit (the hash chain) and intel.audit.checkpoints.

One partition in (keyed by the constant ``chain``), one out: each entry gets the next sequence
number, the previous record's hash, its own hash and the exchange's signature. The chain head
and the Merkle frontier live in the agent's state store, whose changelog commits in the same
transaction as the records, so after a crash the chain continues exactly where the committed
records end, in this instance or in a standby that takes the partition over. A signed
checkpoint (tree size and RFC 9162 root) follows new records within ``checkpoint_seconds`` (a
tick arrives that often) or every ``checkpoint_records``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agents.base import TICK, Agent, Context, Output, Record, State
from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.merkle import Frontier, leaf_hash
from streams.topics import CHAIN_KEY

__all__ = ["SequencerAgent"]

HEAD = "head"


class _Head:
    """The chain's head as kept in state: size, last hash, Merkle frontier, checkpoint mark."""

    def __init__(self, raw: dict[str, Any] | None) -> None:
        raw = raw or {"size": 0, "hash": GENESIS.hex(), "frontier": [], "checkpointed": 0}
        self.hash = bytes.fromhex(raw["hash"])
        self.frontier = Frontier(raw["size"], [bytes.fromhex(h) for h in raw["frontier"]])
        self.checkpointed: int = raw["checkpointed"]
        self.first_unchecked_ms: int | None = raw.get("first_unchecked_ms")

    def dump(self) -> dict[str, Any]:
        return {
            "size": self.frontier.size,
            "hash": self.hash.hex(),
            "frontier": [h.hex() for h in self.frontier.roots],
            "checkpointed": self.checkpointed,
            "first_unchecked_ms": self.first_unchecked_ms,
        }


class SequencerAgent(Agent):
    """Chains pending audit entries into intel.audit and signs checkpoints of the log."""

    name = "sequencer"
    stateful = True
    input_key = CHAIN_KEY

    def __init__(self, context: Context) -> None:
        settings = context.settings
        self.source = context.topics.audit_pending
        self.audit = context.topics.audit
        self.checkpoint_topic = context.topics.checkpoints
        self.audits = context.codec("AuditRecord")
        self.checkpoints = context.codec("Checkpoint")
        self.keys = context.keys()
        self.clock = context.clock
        self.every_seconds = settings.checkpoint_seconds
        self.every_records = settings.checkpoint_records
        self.tick_seconds = max(settings.checkpoint_seconds / 2, 0.5)

    def process(self, record: Record, state: State | None) -> list[Output]:
        assert state is not None  # a stateful agent
        head = _Head(state.get(HEAD))
        now = self.clock()
        outputs = []
        if record.value != TICK:
            outputs.append(self._chain(head, record.value or b"", now))
        outputs.extend(self._checkpoint(head, now))
        if outputs:
            state.set(HEAD, head.dump())
        return outputs

    def _chain(self, head: _Head, value: bytes, now: datetime) -> Output:
        pending = self.audits.decode(value)
        chained = seal_record(
            pending,
            sequence=head.frontier.size,
            prev_hash=head.hash,
            key_id=self.keys.key_id,
            signing_key=self.keys.signing_key,
            now=now,
        )
        head.hash = chained["hash"]
        head.frontier.append(leaf_hash(chained["hash"]))
        if head.first_unchecked_ms is None:
            head.first_unchecked_ms = int(now.timestamp() * 1000)
        key = chained["disclosure_id"].encode()
        return Output(self.audit, key, self.audits.encode(chained))

    def _checkpoint(self, head: _Head, now: datetime) -> list[Output]:
        """A signed checkpoint when new records have waited long enough or are many."""
        waiting = head.frontier.size - head.checkpointed
        since = head.first_unchecked_ms or int(now.timestamp() * 1000)
        waited = now.timestamp() - since / 1000
        if waiting == 0 or (waiting < self.every_records and waited < self.every_seconds):
            return []
        checkpoint = sign_checkpoint(
            tree_size=head.frontier.size,
            root_hash=head.frontier.root(),
            head_hash=head.hash,
            key_id=self.keys.key_id,
            signing_key=self.keys.signing_key,
            now=now,
        )
        head.checkpointed = head.frontier.size
        head.first_unchecked_ms = None
        key = str(head.frontier.size).encode()
        return [Output(self.checkpoint_topic, key, self.checkpoints.encode(checkpoint))]
