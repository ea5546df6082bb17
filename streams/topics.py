"""The topic catalogue: every ``intel.*`` topic of DESIGN.md, its partitions and its configuration.

This is the one place topic names, consumer group names and transactional ids live: every
other module asks :class:`Topics` (built from ``Settings.topic_prefix``, empty in production,
unique per integration test) for them. Names are the contract.

Keys: ``intel.submissions`` and ``intel.enriched`` are keyed by ``event_id`` (12 partitions,
shared by the instances of intake and route; a recall or correction request about a report is
keyed by that report's event id, so it follows the report to its route instance);
``intel.validated`` by the constant ``dedup`` and ``intel.audit.pending`` by the constant
``chain`` (:data:`DEDUP_KEY`, :data:`CHAIN_KEY`): each feeds a stateful agent whose state must
see every record (enrich's dedup and correlation, the sequencer's hash chain), and quixstreams
scopes state to the message key;
``intel.agreements`` by agreement id (``intel.agreements.history`` by ``id:vN``);
``intel.ref.*`` by the record's own id (``intel.ref.units`` by the unit's user name);
``intel.keys.subjects`` by an HMAC of the subject id (``streams.core.erasure.KeyLookup``),
``intel.keys.commitments`` by the subject's oversight link; ``intel.feedback`` by the event id
of the disclosure the feedback is on (intake relays it to that event's route instance),
``intel.ref.unitkeys`` by unit id, a unit's ``intel.feedback.<unit>`` by feedback id; feeds and
audit topics by disclosure id (cosignatures by ``witness:tree_size``).
"""

from __future__ import annotations

from typing import NamedTuple

from streams.core.fields import AGENCY_ID, AGENCY_RULE, IDENTIFIER, IDENTIFIER_RULE
from streams.errors import ConfigError
from streams.i18n import msg
from streams.settings import Settings

__all__ = [
    "AGENT_NAMES",
    "CATALOGUE",
    "CHAIN_KEY",
    "DEDUP_KEY",
    "INTERNAL",
    "PLAINTEXT_INTERMEDIATE",
    "VIEW_GROUP",
    "TopicSpec",
    "Topics",
    "configured",
    "feed_spec",
    "feed_topic",
    "unit_feedback_spec",
    "unit_feedback_topic",
]

DAY_MS = 24 * 60 * 60 * 1000
SUBMISSIONS = "intel.submissions"
VALIDATED = "intel.validated"
ENRICHED = "intel.enriched"
DEADLETTER = "intel.deadletter"
AUDIT_PENDING = "intel.audit.pending"
AUDIT = "intel.audit"
CHECKPOINTS = "intel.audit.checkpoints"
COSIGNATURES = "intel.audit.cosignatures"
RECEIPTS = "intel.receipts"
AGREEMENTS = "intel.agreements"
AGREEMENT_HISTORY = "intel.agreements.history"
FACILITIES = "intel.ref.facilities"
SUBJECTS = "intel.ref.subjects"
AGENCIES = "intel.ref.agencies"
UNITS = "intel.ref.units"
SUBJECT_KEYS = "intel.keys.subjects"
SUBJECT_COMMITMENTS = "intel.keys.commitments"
FEEDBACK = "intel.feedback"
UNIT_KEYS = "intel.ref.unitkeys"
FEED_PREFIX = "intel.feed."
UNIT_FEEDBACK_PREFIX = "intel.feedback."
"""A unit's feedback topic is this and its unit id (``intel.feedback.TJ-PIU-DUSHANBE``); the
prefix does not match ``intel.feedback`` itself, nor ``intel.feed.`` these."""
INTEL_PREFIX = "intel."
"""Every topic of the contract starts with this."""
VIEW_GROUP = "intelshare-view"
"""The group id the agents' reference views give librdkafka; never joined (their partitions are
assigned by hand) and never committed to."""
AGENT_NAMES = ("intake", "enrich", "route", "sequencer")
"""The agents, whose names are their consumer groups and transactional-id stems (the worker's
ACLs grant exactly these; ``agents.worker.AGENTS`` must agree, a test checks)."""
INTERNAL_PREFIX = "intelshare."
"""The agents' own changelogs start with this."""
GROUP_PREFIX = "intelshare-"
"""Consumer groups and transactional ids start with this."""


class TopicSpec(NamedTuple):
    """One topic of the catalogue."""

    name: str
    """Topic name without the prefix, e.g. ``intel.submissions``."""
    partitions: int
    """Partition count; the audit topics have exactly one, for a total order."""
    config: dict[str, str]
    """Topic-level configuration given at creation."""
    doc: str
    """What the topic holds."""


def _retain(days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)}


_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
_COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
_DESTROYABLE = _COMPACT | {
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.01",
    "max.compaction.lag.ms": "60000",
    "delete.retention.ms": "60000",
}
"""A compacted topic whose overwritten and tombstoned values really leave the disks: the
active segment (never compacted) is rolled by the first append a minute after it began, the
cleaner then takes it as soon as there is anything to clean (at the latest a minute later),
and a tombstone goes at the first cleaning a minute after it was written. Kafka rolls only on
an append, so ``intelshare erase --roll`` appends twice (streams.kafka.erasure.roll_erased). On
the subjects' data keys and commitments, and on the subjects' reference data, keyed by subject
id in clear, whose tombstone ``erase`` writes too."""

CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(SUBMISSIONS, 12, _retain(30), "reports as units submitted them"),
    TopicSpec(VALIDATED, 1, _retain(30), "reports that decoded and validated, for enrich"),
    TopicSpec(ENRICHED, 12, _retain(30), "reports with reference data and dedup marks"),
    TopicSpec(DEADLETTER, 1, _retain(365), "rejected bytes with reason and origin"),
    TopicSpec(AUDIT_PENDING, 1, _retain(30), "audit entries awaiting the sequencer"),
    TopicSpec(AUDIT, 1, _FOREVER, "the hash-chained, signed audit log"),
    TopicSpec(CHECKPOINTS, 1, _FOREVER, "signed tree heads of the audit log"),
    TopicSpec(COSIGNATURES, 1, _FOREVER, "witnesses' cosignatures of the checkpoints"),
    TopicSpec(RECEIPTS, 3, _FOREVER, "agencies' signed consultation receipts"),
    TopicSpec(AGREEMENTS, 1, _COMPACT, "sharing agreements, latest version per id"),
    TopicSpec(AGREEMENT_HISTORY, 1, _FOREVER, "every applied version of every agreement"),
    TopicSpec(FACILITIES, 1, _COMPACT, "facility reference data"),
    TopicSpec(SUBJECTS, 1, _DESTROYABLE, "subject reference data, keyed by subject id"),
    TopicSpec(AGENCIES, 1, _COMPACT, "partner agencies and their public keys"),
    TopicSpec(UNITS, 1, _COMPACT, "unit users, the units each speaks for, their submission keys"),
    TopicSpec(SUBJECT_KEYS, 1, _DESTROYABLE, "each subject's data key, until it is erased"),
    TopicSpec(SUBJECT_COMMITMENTS, 1, _DESTROYABLE, "each subject's commitment, by oversight link"),
    TopicSpec(FEEDBACK, 3, _retain(30), "agencies' signed feedback, on its way to route"),
    TopicSpec(UNIT_KEYS, 1, _COMPACT, "units' public keys, that feedback is encrypted to"),
)

PLAINTEXT_INTERMEDIATE = frozenset({SUBMISSIONS, VALIDATED, ENRICHED, FEEDBACK})
"""The topics that hold whole reports (or an agency's feedback note) in clear between the
agents: kept
``Settings.retention_intermediate_days`` (7 by default), no longer than a stopped worker needs
to catch up."""


def configured(spec: TopicSpec, settings: Settings) -> TopicSpec:
    """``spec`` with the retention its settings ask for: the plaintext intermediate topics,
    the dead letters (their replay window) and the agencies' feeds; the catalogue's own
    configuration for every other topic. Retention counts from a record's timestamp; the broker
    deletes a whole segment once its newest record is older, checking every five minutes
    (``log.retention.check.interval.ms``), so a record lives at most that much longer."""
    if spec.name in PLAINTEXT_INTERMEDIATE:
        days = settings.retention_intermediate_days
    elif spec.name == DEADLETTER:
        days = settings.retention_deadletter_days
    elif spec.name.startswith((FEED_PREFIX, UNIT_FEEDBACK_PREFIX)):
        days = settings.retention_feed_days
    else:
        return spec
    return spec._replace(config=spec.config | _retain(days))


INTERNAL: tuple[TopicSpec, ...] = ()
"""Topics of the exchange outside the intel.* contract: none to create by hand. The agents'
state changelogs are quixstreams' own (``changelog__<group>--<topic>--default``, compacted),
created by the engine when an agent first starts (:attr:`Topics.state_changelogs`)."""

DEDUP_KEY = b"dedup"
"""The key of every record on intel.validated (see the module's docstring)."""
CHAIN_KEY = b"chain"
"""The key of every record on intel.audit.pending (see the module's docstring)."""

_FEED_CONFIG = _retain(365)


def feed_topic(agency_id: str) -> str:
    """``intel.feed.<agency>``, refusing ids that would make an unsafe topic name."""
    if not isinstance(agency_id, str) or not AGENCY_ID.fullmatch(agency_id):
        raise ConfigError(
            msg(
                "agency id {agency_id!r} must be {rule}",
                agency_id=agency_id,
                rule=AGENCY_RULE,
            )
        )
    return FEED_PREFIX + agency_id


def unit_feedback_topic(unit_id: str) -> str:
    """``intel.feedback.<unit>``, refusing ids that would make an unsafe topic name."""
    if not isinstance(unit_id, str) or not IDENTIFIER.fullmatch(unit_id):
        raise ConfigError(
            msg("unit id {unit_id!r} must be {rule}", unit_id=unit_id, rule=IDENTIFIER_RULE)
        )
    return UNIT_FEEDBACK_PREFIX + unit_id


def unit_feedback_spec(unit_id: str) -> TopicSpec:
    """The catalogue entry of one unit's feedback topic (encrypted to the unit, kept like a
    feed)."""
    return TopicSpec(
        unit_feedback_topic(unit_id), 1, dict(_FEED_CONFIG), f"feedback to unit {unit_id}"
    )


def feed_spec(agency_id: str) -> TopicSpec:
    """The catalogue entry of one agency's feed."""
    return TopicSpec(feed_topic(agency_id), 3, dict(_FEED_CONFIG), f"disclosures to {agency_id}")


class Topics:
    """Every name one deployment uses, with its prefix: ``Topics(settings.topic_prefix)``."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.submissions = prefix + SUBMISSIONS
        self.validated = prefix + VALIDATED
        self.enriched = prefix + ENRICHED
        self.deadletter = prefix + DEADLETTER
        self.audit_pending = prefix + AUDIT_PENDING
        self.audit = prefix + AUDIT
        self.checkpoints = prefix + CHECKPOINTS
        self.cosignatures = prefix + COSIGNATURES
        self.receipts = prefix + RECEIPTS
        self.agreements = prefix + AGREEMENTS
        self.agreement_history = prefix + AGREEMENT_HISTORY
        self.facilities = prefix + FACILITIES
        self.subjects = prefix + SUBJECTS
        self.agencies = prefix + AGENCIES
        self.units = prefix + UNITS
        self.subject_keys = prefix + SUBJECT_KEYS
        self.subject_commitments = prefix + SUBJECT_COMMITMENTS
        self.feedback = prefix + FEEDBACK
        self.unit_keys = prefix + UNIT_KEYS
        self.intel = prefix + INTEL_PREFIX
        self.internal = prefix + INTERNAL_PREFIX
        self.groups = prefix + GROUP_PREFIX
        self.oversight_group = prefix + GROUP_PREFIX + "oversight"
        """The oversight body's consumer group."""
        self.state_changelogs = f"changelog__{self.groups}"
        """The prefix of the agents' state changelogs, which quixstreams names after the group."""

    def feed(self, agency_id: str) -> str:
        """``intel.feed.<agency>`` with the prefix; ConfigError for an unsafe agency id."""
        return self.prefix + feed_topic(agency_id)

    def unit_feedback(self, unit_id: str) -> str:
        """``intel.feedback.<unit>`` with the prefix; ConfigError for an unsafe unit id."""
        return self.prefix + unit_feedback_topic(unit_id)

    def agent_group(self, agent: str) -> str:
        """Consumer group (and transactional id stem) of one agent."""
        return f"{self.groups}{agent}"

    def agency_group(self, agency_id: str) -> str:
        """The consumer group an agency reads its feed with."""
        feed_topic(agency_id)
        return f"{self.groups}agency-{agency_id}"
