"""Try, as one user with plain confluent-kafka clients, every operation on every topic, group
and transactional id, and say which the broker allowed.

Nothing here asks the broker what the ACLs are: each operation is attempted and the answer
read from its error code. Creating and altering are asked with ``validate_only`` and creating
targets existing topics (allowed = "already exists"), so a probe changes nothing that matters;
deleting is real, and is expected to be refused to every role but the admin.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from streams.kafka.clients import librdkafka_config
from streams.settings import Settings

__all__ = [
    "TOPIC_OPERATIONS",
    "probe_groups",
    "probe_topics",
    "probe_transactional_ids",
    "seed",
]

TOPIC_OPERATIONS = ("read", "write", "describe", "describe_configs", "create", "alter_configs",
                    "delete")  # fmt: skip
_DENIED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}


def _config(settings: Settings, **extra: Any) -> dict[str, Any]:
    return librdkafka_config(settings) | {"log_level": 0, "socket.timeout.ms": 10000} | extra


def _allowed(future: Any) -> bool:
    """Whether an admin future's operation was allowed: any outcome but an authorisation
    error (``already exists`` for a create of an existing topic means it was allowed)."""
    try:
        future.result(timeout=20)
    except KafkaException as exc:
        return exc.args[0].code() not in _DENIED
    return True


def probe_topics(settings: Settings, topics: Iterable[str]) -> dict[str, set[str]]:
    """For each topic (each holding at least one record on partition 0), the operations of
    :data:`TOPIC_OPERATIONS` this user was allowed."""
    names = list(topics)
    allowed: dict[str, set[str]] = {name: set() for name in names}
    admin = AdminClient(_config(settings))
    described = admin.describe_topics(TopicCollection(names), request_timeout=20)
    for name, future in described.items():
        if _allowed(future):
            allowed[name].add("describe")
    resources = [ConfigResource("topic", name) for name in names]
    for resource, future in admin.describe_configs(resources, request_timeout=20).items():
        if _allowed(future):
            allowed[resource.name].add("describe_configs")
    created = admin.create_topics(
        [NewTopic(name, 1, 1) for name in names], validate_only=True, request_timeout=20
    )
    for name, future in created.items():
        if _allowed(future):
            allowed[name].add("create")
    alter = [
        ConfigResource(
            "topic",
            name,
            incremental_configs=[
                ConfigEntry(
                    "max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET
                )
            ],
        )
        for name in names
    ]
    for resource, future in admin.incremental_alter_configs(alter, validate_only=True).items():
        if _allowed(future):
            allowed[resource.name].add("alter_configs")
    for name in _written(settings, names):
        allowed[name].add("write")
    # READ implies DESCRIBE in Kafka's authoriser: a topic this user may not describe is not in
    # its metadata, librdkafka never fetches from it, so it is not readable by construction
    for name in _read(settings, [name for name in names if "describe" in allowed[name]]):
        allowed[name].add("read")
    for name, future in admin.delete_topics(names, request_timeout=20).items():
        if _allowed(future):
            allowed[name].add("delete")
    return allowed


def seed(admin: Settings, topics: Iterable[str]) -> None:
    """Give partition 0 of each topic a record, for the read probes to find."""
    names = list(topics)
    assert _written(admin, names) == set(names)


def _written(settings: Settings, topics: list[str]) -> set[str]:
    """The topics a plain (not idempotent) producer could write one record to."""
    results: dict[str, KafkaError | None] = {}

    def done(error: KafkaError | None, message: Any) -> None:
        results[message.topic()] = error

    client = Producer(
        _config(settings, **{"enable.idempotence": False, "message.timeout.ms": 15000})
    )
    for topic in topics:
        client.produce(
            topic, b"probe", key=b"probe", partition=0, on_delivery=done
        )  # compacted: keyed
    client.flush(30)
    return {topic for topic, error in results.items() if error is None}


def _read(settings: Settings, topics: list[str], timeout: float = 20.0) -> set[str]:
    """The topics whose first record on partition 0 this user could fetch (assigned, so no
    group is involved). One consumer per topic: librdkafka does not always say which topic a
    refused fetch was for."""
    return {topic for topic in topics if _fetches(settings, topic, timeout)}


def _fetches(settings: Settings, topic: str, timeout: float) -> bool:
    client = Consumer(
        _config(settings, **{"group.id": "probe-never-joined", "enable.auto.commit": False})
    )
    try:
        client.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = client.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return True
            if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                return False  # (a refused group lookup may come first: not this probe's)
    finally:
        client.close()
    raise AssertionError(f"{topic} was neither read nor refused within {timeout} s")


def probe_groups(settings: Settings, groups: Iterable[str], topic: str) -> dict[str, set[str]]:
    """For each consumer group: ``read`` if this user could commit an offset of ``topic`` as
    that group (refused on the group, not on the topic), ``describe`` if it could describe it,
    ``delete`` if it could delete it. Asked through the admin client: a consumer whose group
    is refused waits for a coordinator for ever instead of failing."""
    allowed: dict[str, set[str]] = {}
    admin = AdminClient(_config(settings))
    for group in groups:
        allowed[group] = set()
        offsets = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 1)])
        committed = admin.alter_consumer_group_offsets([offsets], request_timeout=20)[group]
        try:
            committed.result(timeout=20)
            allowed[group].add("read")
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.GROUP_AUTHORIZATION_FAILED:
                allowed[group].add("read")
        if _allowed(admin.describe_consumer_groups([group], request_timeout=20)[group]):
            allowed[group].add("describe")
        if _allowed(admin.delete_consumer_groups([group], request_timeout=20)[group]):
            allowed[group].add("delete")
    return allowed


def probe_transactional_ids(settings: Settings, ids: Iterable[str]) -> set[str]:
    """The transactional ids this user could initialise a transactional producer with."""
    allowed: set[str] = set()
    for transactional_id in ids:
        client = Producer(_config(settings, **{"transactional.id": transactional_id}))
        try:
            client.init_transactions(20)
            allowed.add(transactional_id)
        except KafkaException as exc:
            # librdkafka makes the refusal fatal: the code is then _FATAL, the cause in the text
            error = exc.args[0]
            if error.code() not in _DENIED and "authorization failed" not in error.str():
                raise
        del client  # nothing was produced; a producer in a fatal state refuses even flush()
    return allowed
