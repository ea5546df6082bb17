"""What an agent is: one class with a name, the topic it consumes and one ``process`` per
record; the default hooks below cover everything else, so a new agent is one module that
overrides only what it needs, and one line in :data:`agents.worker.AGENTS`.

An agent is thin glue: ``process`` decodes, calls the pure core (``streams.core``,
``streams.audit``) and returns :class:`Output` records, which the runner writes in one
transaction with the input's offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from aiokafka.structs import ConsumerRecord

from agents.keys import ExchangeKeys
from agents.views import TopicView
from streams.core.codec import Codec
from streams.core.policy import Agreement
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["Agent", "Context", "Output"]


class Output(NamedTuple):
    """One record an agent wants written, in the same transaction as its input's offset."""

    topic: str
    """Full topic name, prefix included."""
    key: bytes | None
    """Message key."""
    value: bytes | None
    """Message value; None is a tombstone on a compacted topic."""


class Context(NamedTuple):
    """What the worker builds once and every agent may use."""

    settings: Settings
    """The one settings object."""
    topics: Topics
    """Every topic name, with the deployment's prefix."""
    codec: Callable[[str], Codec]
    """The codec of a record name, e.g. ``codec("Report")``."""
    facilities: TopicView[dict[str, Any]]
    """Facilities by id (intel.ref.facilities)."""
    subjects: TopicView[dict[str, Any]]
    """Subjects by id (intel.ref.subjects)."""
    agencies: TopicView[dict[str, Any]]
    """Registered agencies by id (intel.ref.agencies)."""
    agreements: TopicView[Agreement]
    """The latest version of each agreement (intel.agreements)."""
    units: TopicView[dict[str, Any]]
    """Unit users, their units and submission keys, by user name (intel.ref.units)."""
    keys: Callable[[], ExchangeKeys]
    """The exchange's keys, loaded on first use (only route and the sequencer need them)."""
    clock: Callable[[], datetime]
    """The current time, timezone-aware."""


class Agent:
    """Base of every agent. Subclasses set ``name`` and ``source`` and override ``process``."""

    name: str = ""
    """Short name: intake, enrich, route, sequencer. Also names its group and changelog."""
    source: str = ""
    """Full name of the topic it consumes."""
    state_topic: str | None = None
    """Full name of its compacted state changelog, or None when it keeps no state."""
    views: Sequence[TopicView[Any]] = ()
    """Reference views that must be caught up before the first record is processed."""

    def __init__(self, context: Context) -> None:
        """Take from ``context`` what the agent needs (topics, codecs, views, keys, clock)."""

    def restore(self, key: bytes, value: bytes | None) -> None:
        """Apply one changelog record while state is rebuilt at start (agents with state)."""
        raise NotImplementedError(f"{self.name} keeps no state")

    def process(self, record: ConsumerRecord[bytes, bytes]) -> list[Output]:
        """Turn one input record into outputs; raise only for a bug or a broken dependency."""
        raise NotImplementedError

    def flush(self) -> list[Output]:
        """Outputs due now whatever the input (e.g. a checkpoint); called after every poll."""
        return []
