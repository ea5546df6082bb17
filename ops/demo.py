"""The exchange's main job on the local broker, as far as it is built: broker, topics, submit,
read back. Run by ``ops/demo``; leaves nothing running that it started.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from kafka import TopicPartition

from ops import broker
from streams.clients import consumer, create_topics, translate_errors
from streams.codec import Codec
from streams.errors import IntelshareError
from streams.log import configure_logging
from streams.report import report_to_json
from streams.settings import PROJECT_ROOT, Settings
from streams.submit import SUBMISSIONS, Submitter, read_reports
from streams.topics import CATALOGUE, INTERNAL

EXAMPLES = PROJECT_ROOT / "ops" / "examples"


def _end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    client = consumer(settings, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in client.partitions_for_topic(topic) or ()]
        return dict(client.end_offsets(partitions))
    finally:
        client.close()


def _read_from(
    settings: Settings, start: dict[TopicPartition, int], codec: Codec, count: int
) -> list[dict[str, object]]:
    client = consumer(settings, group_id=None)
    try:
        client.assign(list(start))
        for partition, offset in start.items():
            client.seek(partition, offset)
        reports: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while len(reports) < count and time.monotonic() < deadline:
            for batch in client.poll(timeout_ms=500).values():
                reports.extend(report_to_json(codec.decode(r.value)) for r in batch)
        return reports
    finally:
        client.close()


def run(settings: Settings) -> int:
    """Start (if needed), create topics, submit the examples, read them back, print a summary."""
    began = time.monotonic()
    started_here = not broker.status(settings).answering
    print(f"broker: {broker.start(settings)} ({'started' if started_here else 'already running'})")
    try:
        created = create_topics(settings, CATALOGUE + INTERNAL)
        print(f"topics: {sum(o.created for o in created)} created, {len(created)} in the catalogue")
        topic = settings.topic_prefix + SUBMISSIONS
        with translate_errors(settings, "reading offsets"):
            start = _end_offsets(settings, topic)
        with Submitter(settings) as submitter:
            good = submitter.submit(
                read_reports(
                    (EXAMPLES / "reports.jsonl").read_text(), max_bytes=settings.max_report_bytes
                )
            )
            bad = submitter.submit(
                read_reports(
                    (EXAMPLES / "rejected.jsonl").read_text(), max_bytes=settings.max_report_bytes
                )
            )
            codec = submitter.codec
        print(f"submitted: {len(good.sent)} sent, {len(bad.rejected)} rejected as they should be:")
        for rejection in bad.rejected:
            print(f"  {rejection}")
        with translate_errors(settings, "reading back"):
            back = _read_from(settings, start, codec, len(good.sent))
        print(f"read back from {topic}: {len(back)} reports")
        for report in back:
            print(
                f"  {report['event_id']}  {report['kind']:<11} {report['facility_id']:<9} "
                f"{report['tlp']:<12} {report['category']}"
            )
        ok = sorted(str(r["event_id"]) for r in back) == sorted(good.sent) and not good.rejected
        print(f"{'ok' if ok else 'MISMATCH'} in {time.monotonic() - began:.1f} s")
        return 0 if ok else 1
    finally:
        if started_here:
            broker.stop(settings)
            print("broker: stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ops/demo``."""
    try:
        settings = Settings.load()
        configure_logging(settings.log_level)
        return run(settings)
    except IntelshareError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
