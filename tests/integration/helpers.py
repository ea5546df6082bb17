"""Reading topics back and running the CLI, for integration tests."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from kafka import TopicPartition

from streams.kafka.clients import consumer
from streams.settings import Settings


def read_all(settings: Settings, topic: str, *, expect: int, timeout: float = 20.0) -> list[Any]:
    """Every record of ``topic`` (read_committed), waiting until ``expect`` have arrived.

    Reads on for a moment after reaching ``expect`` so that extra records are seen too.
    """
    client = consumer(settings, group_id=None)
    try:
        partitions = client.partitions_for_topic(topic) or set()
        client.assign([TopicPartition(topic, p) for p in partitions])
        client.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        settle: float | None = None
        while time.monotonic() < deadline:
            for batch in client.poll(timeout_ms=200).values():
                records.extend(batch)
            if len(records) >= expect:
                settle = settle or time.monotonic() + 1.0
                if time.monotonic() >= settle:
                    break
        return records
    finally:
        client.close()


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``intelshare ARGS`` as a user would, returning its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def committed_count(settings: Settings, topic: str) -> int:
    """How many committed records ``topic`` holds now: read to its end offsets, however many
    transaction markers lie between them (an idle timeout would stop early among them)."""
    from streams.kafka.clients import read_topic

    return len(read_topic(settings, topic))
