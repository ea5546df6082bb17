"""Topic configuration on the broker: bring existing topics in line with the catalogue and the
settings (``intelshare topics create``), and say what each topic keeps and since when
(``intelshare retention report``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from streams.core.retention import ConfigChange, TopicRetention, changes
from streams.i18n import msg
from streams.kafka.clients import admin_client, translate_errors
from streams.settings import Settings
from streams.topics import (
    FEED_PREFIX,
    UNIT_FEEDBACK_PREFIX,
    Topics,
    TopicSpec,
    configured,
    feed_spec,
    unit_feedback_spec,
)

__all__ = ["align_configs", "existing_feeds", "retention_rows"]


def _configs(
    admin: KafkaAdminClient, wanted: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, str]]:
    """The broker's value of each named config of each topic (defaults included)."""
    if not wanted:
        return {}
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(keys))
        for name, keys in wanted.items()
    ]
    described = admin.describe_configs(resources, config_filter="all")["topic"]
    return {
        name: {key: entry["value"] for key, entry in values.items()}
        for name, values in described.items()
    }


def align_configs(settings: Settings, specs: Iterable[TopicSpec]) -> list[ConfigChange]:
    """Set, on each existing topic of ``specs``, every config whose value on the broker differs
    from the catalogue's with the settings' retention (:func:`streams.topics.configured`).

    Incremental (IncrementalAlterConfigs: other configs of the topic are kept) and idempotent: a
    second run changes nothing. Topics that do not exist are left to :func:`create_topics`."""
    wanted = {settings.topic_prefix + s.name: configured(s, settings).config for s in specs}
    with admin_client(settings) as admin, translate_errors(settings, msg("aligning topic configs")):
        existing = set(admin.list_topics())
        present = {name: config for name, config in wanted.items() if name in existing}
        current = _configs(admin, present)
        found = [c for n, config in present.items() for c in changes(n, current[n], config)]
        if found:
            by_topic: dict[str, dict[str, str]] = {}
            for change in found:
                by_topic.setdefault(change.topic, {})[change.key] = change.new
            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n, c) for n, c in by_topic.items()]
            )
    return found


def existing_feeds(settings: Settings) -> list[TopicSpec]:
    """The catalogue entries of the agencies' feeds and the units' feedback topics that exist
    on the broker."""
    start = settings.topic_prefix + FEED_PREFIX
    units = settings.topic_prefix + UNIT_FEEDBACK_PREFIX
    with admin_client(settings) as admin, translate_errors(settings, msg("listing feeds")):
        names = sorted(admin.list_topics())
    feeds = [feed_spec(n.removeprefix(start)) for n in names if n.startswith(start)]
    return feeds + [unit_feedback_spec(n.removeprefix(units)) for n in names if n.startswith(units)]


def _oldest(admin: KafkaAdminClient, partitions: dict[str, int]) -> dict[str, datetime | None]:
    """Per topic, the timestamp of its oldest record (earliest over partitions): the broker's
    answer to "first offset whose timestamp is at or after 0" (ListOffsets), one request per
    leader, no record read."""
    specs = {TopicPartition(t, p): 0 for t, count in partitions.items() for p in range(count)}
    answer = admin.list_partition_offsets(specs) if specs else {}
    oldest: dict[str, datetime | None] = dict.fromkeys(partitions)
    for tp, found in answer.items():
        if found.offset < 0 or found.timestamp < 0:
            continue
        moment = datetime.fromtimestamp(found.timestamp / 1000, UTC)
        before = oldest[tp.topic]
        oldest[tp.topic] = moment if before is None else min(before, moment)
    return oldest


def retention_rows(settings: Settings) -> list[TopicRetention]:
    """Every topic of this exchange (``intel.*`` and the agents' state changelogs, under the
    prefix), sorted by name: its cleanup policy, its retention and its oldest record."""
    topics = Topics(settings.topic_prefix)
    ours = (topics.intel, topics.state_changelogs)
    with admin_client(settings) as admin, translate_errors(settings, msg("reporting retention")):
        names = sorted(n for n in admin.list_topics() if n.startswith(ours))
        partitions = {
            t["name"]: len(t["partitions"])
            for t in admin.describe_topics(names)
            if not t["error_code"]
        }
        configs = _configs(admin, {n: ("cleanup.policy", "retention.ms") for n in partitions})
        oldest = _oldest(admin, partitions)
    return [
        TopicRetention(
            name,
            configs[name]["cleanup.policy"],
            int(configs[name]["retention.ms"]),
            oldest[name],
        )
        for name in sorted(partitions)
    ]
