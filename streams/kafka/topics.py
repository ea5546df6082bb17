"""Creating the catalogue's topics (:mod:`streams.topics`) on the broker or the local cluster:
idempotent, with as many replicas as the cluster allows, and drift of existing topics named;
bringing existing topics' configuration (retention, compaction) in line with the catalogue and
the settings; and what each topic holds now, for ``intelshare retention report``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from kafka.admin import KafkaAdminClient

from streams.i18n import msg
from streams.kafka.clients import admin_client, translate_errors
from streams.settings import Settings
from streams.topics import TopicSpec, configured

__all__ = ["TopicOutcome", "create_topics", "replication_for"]


class TopicOutcome(NamedTuple):
    """What ``create_topics`` did with one topic."""

    name: str
    """Full topic name, prefix included."""
    created: bool
    """True if this call created it; False if it already existed."""
    partitions: int
    """Partition count on the broker."""
    problem: str | None
    """Set when an existing topic differs from the catalogue (e.g. too few partitions)."""


def replication_for(brokers: int) -> tuple[int, dict[str, str]]:
    """The replication factor of new topics on a cluster of ``brokers`` (three copies at most),
    and the topic configs that go with it: with three copies, a write is acknowledged once two
    hold it (``min.insync.replicas=2``), so one broker may fail without loss or refusal."""
    replicas = max(1, min(3, brokers))
    return replicas, ({"min.insync.replicas": "2"} if replicas >= 3 else {})


def create_topics(settings: Settings, specs: Iterable[TopicSpec]) -> list[TopicOutcome]:
    """Create every missing topic of ``specs``; idempotent, and reports drift of existing ones.

    Their configuration is the catalogue's with the retention of ``settings``
    (:func:`streams.topics.configured`). New topics get as many replicas as the cluster has
    live brokers, three at most (:func:`replication_for`): one on the single local broker,
    three on the local cluster.
    """
    wanted = {settings.topic_prefix + spec.name: configured(spec, settings) for spec in specs}
    outcomes: list[TopicOutcome] = []
    with admin_client(settings) as admin, translate_errors(settings, msg("creating topics")):
        existing = set(admin.list_topics())
        missing = {name: spec for name, spec in wanted.items() if name not in existing}
        refused: dict[str, Any] = {}
        if missing:
            brokers = admin.describe_cluster()["brokers"]
            replicas, durable = replication_for(sum(not b.get("is_fenced") for b in brokers))
            answer = admin.create_topics(
                {
                    name: {
                        "num_partitions": spec.partitions,
                        "replication_factor": replicas,
                        "configs": durable | spec.config,
                    }
                    for name, spec in missing.items()
                },
                raise_errors=False,
                wait_for_metadata=False,
            )
            refused = {t["name"]: t for t in answer["topics"] if t["error_code"]}
        partitions = _partitions(admin, sorted(wanted), settings.request_timeout)
    for name, spec in wanted.items():
        count = partitions.get(name, 0)
        problem = None
        if name in missing and name in refused:
            why = refused[name].get("error_message") or f"error {refused[name]['error_code']}"
            problem = f"was not created: {why}"
        elif count == 0:
            problem = "was not created; see the broker log"
        elif name not in missing and count != spec.partitions:
            problem = f"has {count} partitions, the catalogue says {spec.partitions}"
        outcomes.append(TopicOutcome(name, name in missing, count, problem))
    return outcomes


def _partitions(admin: KafkaAdminClient, names: list[str], timeout: float) -> dict[str, int]:
    """Partitions of each of ``names`` with a leader for each, once all are so or ``timeout``
    passes: on a cluster a new topic reaches each broker's metadata at its own moment."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            t["name"]: len(t["partitions"])
            for t in admin.describe_topics(names)
            if not t["error_code"] and t["partitions"]
            and all(p["leader_id"] >= 0 for p in t["partitions"])
        }  # fmt: skip
        if len(found) == len(names) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
