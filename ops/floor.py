"""The floors the benchmark compares the pipeline with, measured on the same broker: what Kafka's
own performance tools move through one topic (the broker's floor), and what confluent-kafka, the
client the agents use, moves from Python (the client's floor).

Each floor is N records of one size produced to a fresh topic by an idempotent producer with
acks=all, then consumed from the start of that topic. The broker's floor runs
``org.apache.kafka.tools.ProducerPerformance`` and ``ConsumerPerformance`` (from
``kafka-tools``, the version of the broker, assembled by the pom's ``tools`` profile) with
``java -cp``, and reads their summaries with :func:`parse_producer_performance` and
:func:`parse_consumer_performance`. The consume rate is ConsumerPerformance's
``fetch.nMsg.sec``: the time spent joining its consumer group is left out, as the Python
client's consumer, assigned its partitions, joins no group.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from typing import NamedTuple

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from ops.broker_config import assemble_tools, java_path
from streams.errors import IntelshareError
from streams.kafka.clients import librdkafka_config
from streams.settings import Settings

__all__ = [
    "ConsumerFigures",
    "Floor",
    "ProducerFigures",
    "client_floor",
    "kafka_tools_floor",
    "parse_consumer_performance",
    "parse_producer_performance",
]

TOOL_TIMEOUT = 600.0
"""Seconds one run of a Kafka tool may take."""
IDLE_MS = 30_000
"""ConsumerPerformance gives up after this many milliseconds with no record."""
BATCH_BYTES = 1_000_000
"""ProducerPerformance's batch size: librdkafka's default, so that both floors batch alike (the
Java client's 16 KiB default queues records behind too few requests, and measures itself)."""


class Floor(NamedTuple):
    """Records per second through one topic, with the same size and acks as the pipeline's."""

    produce_per_s: float
    """Produced by an idempotent producer, acks=all, until every record was acknowledged."""
    consume_per_s: float
    """Consumed from the start of the topic (read_committed)."""

    @property
    def slower(self) -> float:
        """The slower of the two: nothing that produces and consumes can go faster."""
        return min(self.produce_per_s, self.consume_per_s)


class ProducerFigures(NamedTuple):
    """The summary line ProducerPerformance prints last."""

    records: int
    """Records sent (and acknowledged)."""
    per_s: float
    """Records per second."""
    avg_latency_ms: float
    """Mean time from send to acknowledgement."""
    p99_ms: float
    """99th percentile of that time."""


class ConsumerFigures(NamedTuple):
    """The line of figures ConsumerPerformance prints under its header."""

    records: int
    """Records consumed (``data.consumed.in.nMsg``)."""
    per_s: float
    """Records per second over the whole run, group join included (``nMsg.sec``)."""
    fetch_per_s: float
    """Records per second once the group was joined (``fetch.nMsg.sec``)."""


_PRODUCER_SUMMARY = re.compile(
    r"^(?P<records>\d+) records sent, (?P<per_s>[\d.]+) records/sec \([\d.]+ MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, [\d.]+ ms max latency, [\d.]+ ms 50th, [\d.]+ ms 95th, "
    r"(?P<p99>[\d.]+) ms 99th",
    re.MULTILINE,
)
_CONSUMER_HEADER = "start.time, end.time,"


def parse_producer_performance(output: str) -> ProducerFigures:
    """The figures of ProducerPerformance's summary, the one line with percentiles (the lines
    it prints while it runs have none)."""
    found = list(_PRODUCER_SUMMARY.finditer(output))
    if not found:
        raise IntelshareError(f"ProducerPerformance printed no summary; it said:\n{_tail(output)}")
    last = found[-1]
    return ProducerFigures(
        int(last["records"]), float(last["per_s"]), float(last["avg"]), float(last["p99"])
    )


def parse_consumer_performance(output: str) -> ConsumerFigures:
    """The figures of ConsumerPerformance: the first line after its header with as many
    comma-separated fields as the header (a warning may come between them)."""
    lines = [line.strip() for line in output.splitlines()]
    for at, line in enumerate(lines):
        if not line.startswith(_CONSUMER_HEADER):
            continue
        names = line.split(", ")
        for values in lines[at + 1 :]:
            fields = values.split(", ")
            if len(fields) == len(names) and values[:1].isdigit():
                figures = dict(zip(names, fields, strict=True))
                return ConsumerFigures(
                    int(figures["data.consumed.in.nMsg"]),
                    float(figures["nMsg.sec"]),
                    float(figures["fetch.nMsg.sec"]),
                )
    raise IntelshareError(f"ConsumerPerformance printed no figures; it said:\n{_tail(output)}")


def _tail(output: str, count: int = 15) -> str:
    return "\n".join(output.strip().splitlines()[-count:]) or "(nothing)"


def _run_tool(settings: Settings, tool: str, arguments: list[str]) -> str:
    """Run ``org.apache.kafka.tools.<tool>`` and return what it printed, both streams."""
    classpath = os.pathsep.join(assemble_tools(settings))
    command = [java_path(), "-Xmx512m", "-cp", classpath, f"org.apache.kafka.tools.{tool}"]
    command += ["--bootstrap-server", settings.bootstrap_servers, *arguments]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=TOOL_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise IntelshareError(f"{tool} took over {TOOL_TIMEOUT:.0f} s") from exc
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise IntelshareError(f"{tool} failed (exit {done.returncode}):\n{_tail(output)}")
    return output


def kafka_tools_floor(settings: Settings, topic: str, records: int, size: int) -> Floor:
    """The broker's floor: Kafka's ProducerPerformance then ConsumerPerformance on ``topic``
    (plaintext brokers only: the tools are given no credentials)."""
    produced = parse_producer_performance(
        _run_tool(settings, "ProducerPerformance", [
            "--topic", topic, "--num-records", str(records), "--record-size", str(size),
            "--throughput", "-1", "--command-property", "acks=all", "enable.idempotence=true",
            f"batch.size={BATCH_BYTES}",
        ])
    )  # fmt: skip
    consumed = parse_consumer_performance(
        _run_tool(settings, "ConsumerPerformance", [
            "--topic", topic, "--num-records", str(records), "--timeout", str(IDLE_MS),
            "--command-property", "isolation.level=read_committed",
        ])
    )  # fmt: skip
    if produced.records < records or consumed.records < records:
        raise IntelshareError(
            f"Kafka's tools moved {produced.records} and {consumed.records} of {records} records"
        )
    return Floor(produced.per_s, consumed.fetch_per_s)


def client_floor(settings: Settings, topic: str, records: int, size: int) -> Floor:
    """The Python client's floor: confluent-kafka's Producer, then its Consumer, on ``topic``;
    like ProducerPerformance, records without a key of ``size`` random bytes."""
    return Floor(
        records / _produce(settings, topic, records, size),
        records / _consume(settings, topic, records),
    )


def _produce(settings: Settings, topic: str, records: int, size: int) -> float:
    """Seconds to produce ``records`` and have every one acknowledged."""
    failed: list[KafkaError] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failed.append(error)

    config = {"enable.idempotence": True, "acks": "all", "on_delivery": delivered}
    client = Producer(librdkafka_config(settings) | config)
    payload = os.urandom(size)
    began = time.monotonic()
    for _ in range(records):
        while True:
            try:
                client.produce(topic, payload)
                break
            except BufferError:  # librdkafka's queue is full: serve acknowledgements, retry
                client.poll(0.01)
        client.poll(0)
    left = client.flush(TOOL_TIMEOUT)
    seconds = time.monotonic() - began
    if left or failed:
        raise IntelshareError(f"the Python client's floor: {left} unsent, {failed[:3]} failed")
    return seconds


def _consume(settings: Settings, topic: str, records: int) -> float:
    """Seconds to consume ``records`` from the start of ``topic``, its partitions assigned."""
    config = librdkafka_config(settings) | {
        "group.id": f"bench-floor-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }
    client = Consumer(config)
    try:
        partitions = client.list_topics(topic, timeout=10).topics[topic].partitions
        client.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        seen = 0
        began = time.monotonic()
        while seen < records:
            batch = client.consume(num_messages=10_000, timeout=1.0)
            seen += sum(1 for message in batch if message.error() is None)
            if time.monotonic() - began > TOOL_TIMEOUT:
                raise IntelshareError(f"the Python client's floor read {seen} of {records}")
        return time.monotonic() - began
    finally:
        client.close()
