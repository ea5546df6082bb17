"""What an agent is: one class with a name, the topic it consumes and one ``process`` per
record; the default hooks below cover everything else, so a new agent is one module that
overrides only what it needs, and one line in :data:`agents.worker.AGENTS`.

An agent is thin glue: ``process`` decodes, calls the pure core (``streams.core``,
``streams.audit``) and returns :class:`Output` records. The engine (:mod:`agents.engine`, on
quixstreams) writes them, the agent's state and the input's offsets in one Kafka transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from agents.keys import ExchangeKeys
from agents.status import Progress
from agents.views import TopicView
from streams.core.codec import Codec
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["TICK", "Agent", "Context", "Output", "Record", "State"]

TICK = b"intelshare-tick"
"""The value of a tick: the engine sends one to a ticking agent's input every
``Agent.tick_seconds``, so work that is due by time (a checkpoint) is done in a transaction."""


class Output(NamedTuple):
    """One record an agent wants written, in the same transaction as its input's offset."""

    topic: str
    """Full topic name, prefix included."""
    key: bytes | None
    """Message key."""
    value: bytes | None
    """Message value."""


class Record(NamedTuple):
    """One input record, as the engine hands it to an agent."""

    topic: str
    """Source topic, prefix included."""
    partition: int
    """Source partition."""
    offset: int
    """Source offset."""
    key: bytes | None
    """Message key."""
    value: bytes | None
    """Message value (:data:`TICK` for a tick)."""
    headers: Sequence[tuple[str, bytes | None]]
    """Message headers."""


class State(Protocol):
    """The part of a quixstreams ``State`` an agent uses: a key-value store of JSON values,
    written in the same transaction as the agent's outputs (a changelog-backed RocksDB)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""

    def set(self, key: str, value: Any) -> None:
        """Set ``key``."""

    def delete(self, key: str) -> None:
        """Remove ``key``."""


class Context(NamedTuple):
    """What the worker builds once and every agent may use."""

    settings: Settings
    """The one settings object."""
    topics: Topics
    """Every topic name, with the deployment's prefix."""
    codec: Callable[[str], Codec]
    """The codec of a record name, e.g. ``codec("Report")``."""
    view: Callable[[str], TopicView[Any]]
    """A live view of a compacted topic by name: ``facilities``, ``subjects``, ``agencies``,
    ``agreements``, ``units``, ``subject_keys`` or ``unit_keys``; started by the engine before
    the first record."""
    keys: Callable[[], ExchangeKeys]
    """The exchange's keys, loaded on first use (route, the sequencer, and enrich for its index)."""
    clock: Callable[[], datetime]
    """The current time, timezone-aware."""


class Agent:
    """Base of every agent. Subclasses set ``name`` and ``source`` and override ``process``."""

    name: str = ""
    """Short name: intake, enrich, route, sequencer. Also names its group and state."""
    source: str = ""
    """Full name of the topic it consumes."""
    extra_sources: Sequence[str] = ()
    """Further topics the agent consumes with the same ``process`` (intake: the agencies'
    feedback beside the submissions; route: their consultation receipts); one transaction
    commits all their offsets. A stateful agent's state is scoped by their keys too."""
    stateful: bool = False
    """True when ``process`` keeps state: it then gets a :class:`State`, scoped by quixstreams
    to the message key. An agent whose state must see every record keys its input by one
    constant (enrich, the sequencer); route keeps one state per event id, its input's key."""
    tick_seconds: float | None = None
    """When set, the engine sends a tick to ``source`` this often."""
    views: Sequence[TopicView[Any]] = ()
    """Reference views that must be caught up before the first record is processed."""
    input_key: bytes | None = None
    """For a stateful agent: the one key its input is written with (and ticks are sent with)."""
    progress: Progress | None = None
    """Set by the worker: the figures the agent adds to (dead letters, disclosures)."""

    def __init__(self, context: Context) -> None:
        """Take from ``context`` what the agent needs (topics, codecs, views, keys, clock)."""

    def process(self, record: Record, state: State | None) -> list[Output]:
        """Turn one input record into outputs; raise only for a bug or a broken dependency."""
        raise NotImplementedError
