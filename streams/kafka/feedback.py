"""Feedback on the broker (see :mod:`streams.core.feedback` for the design): an agency sends
one, a unit's key is registered, a unit reads what it was given."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.core.codec import record_codec
from streams.core.disclosure import open_disclosure
from streams.core.feedback import FEEDBACK, make_feedback
from streams.errors import FeedbackInvalidError, IntelshareError
from streams.i18n import Message, msg
from streams.kafka.clients import publish, read_topic
from streams.kafka.topics import create_topics
from streams.settings import Settings
from streams.topics import CATALOGUE, UNIT_KEYS, Topics, unit_feedback_spec

__all__ = ["Opened", "read_feedback", "register_unit_key", "send_feedback"]


def send_feedback(
    settings: Settings,
    agency_id: str,
    disclosure_id: str,
    useful: bool,
    note: str | None,
    key: Ed25519PrivateKey,
    now: datetime,
) -> dict[str, Any]:
    """Find the disclosure on the agency's feed, sign the feedback and send it to
    ``intel.feedback`` keyed by the disclosure's event id; FeedbackInvalidError when the feed
    holds no such disclosure."""
    topics = Topics(settings.topic_prefix)
    wanted = disclosure_id.lower()
    codec = record_codec(settings.schemas_dir, "Disclosure")
    event = None
    for item in read_topic(settings, topics.feed(agency_id)):
        if item.value is None or not codec.knows(item.value):
            continue
        envelope = codec.decode(item.value)
        if envelope["disclosure_id"] == wanted and envelope.get("kind") == "disclosure":
            event = envelope["event_id"]
    if event is None:
        raise FeedbackInvalidError(
            msg(
                "no disclosure {disclosure_id} on the feed of agency {agency}: give the "
                "disclosure_id that `intelshare consume --agency {agency}` printed",
                disclosure_id=wanted,
                agency=agency_id,
            )
        )
    record = make_feedback(wanted, event, agency_id, useful, note, key, now)
    value = record_codec(settings.schemas_dir, "Feedback").encode(record)
    publish(settings, topics.feedback, [(event.encode(), value)])
    return record


def register_unit_key(settings: Settings, record: Mapping[str, Any]) -> str:
    """Create the unit's feedback topic (and ``intel.ref.unitkeys`` if this deployment
    predates it; idempotent) and publish its key; returns the topic's name."""
    specs = [s for s in CATALOGUE if s.name == UNIT_KEYS] + [unit_feedback_spec(record["unit_id"])]
    for outcome in create_topics(settings, specs):
        if outcome.problem:
            raise IntelshareError(f"topic {outcome.name} {outcome.problem}")
    value = record_codec(settings.schemas_dir, "UnitKey").encode(record)
    topics = Topics(settings.topic_prefix)
    publish(settings, topics.unit_keys, [(record["unit_id"].encode(), value)])
    return topics.unit_feedback(record["unit_id"])


class Opened(NamedTuple):
    """One message of a unit's feedback topic, opened or refused."""

    payload: dict[str, Any] | None
    """The decrypted feedback, or None when it did not open."""
    problem: Message | str | None
    """Why it did not open."""
    offset: int
    """Where it is on the topic."""


def read_feedback(
    settings: Settings,
    unit_id: str,
    private: X25519PrivateKey,
    exchange_keys: Mapping[str, Ed25519PublicKey],
) -> Iterator[Opened]:
    """Every message on ``intel.feedback.<unit>``, its exchange signature checked and its
    payload decrypted with the unit's key; a message that does not verify or open is yielded
    with the reason, never as feedback."""
    codec = record_codec(settings.schemas_dir, "Disclosure")
    topic = Topics(settings.topic_prefix).unit_feedback(unit_id)
    for item in read_topic(settings, topic):
        try:
            message = codec.decode(item.value or b"")
            if message.get("kind") != FEEDBACK or message.get("recipient") != unit_id:
                raise FeedbackInvalidError(msg("not a feedback message to this unit"))
            payload = open_disclosure(message, private, exchange_keys)
        except IntelshareError as exc:
            yield Opened(None, exc.args[0] if exc.args else type(exc).__name__, item.offset)
            continue
        yield Opened(payload, None, item.offset)
