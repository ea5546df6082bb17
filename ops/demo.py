"""The exchange's main job on this machine, end to end (``ops/demo``).

Starts the local broker if needed, then under a fresh topic prefix: creates the topics,
generates the exchange's and nine agencies' keys, registers the agencies, loads reference
data built from the programme report's figures, applies the demo agreements, runs the worker,
submits about 300 reports (with resubmissions, duplicates and bad input), and prints what each
agency received, one decrypted disclosure, the dead letters and the verified audit chain. It
stops the worker, and the broker if it started it: it leaves nothing running.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ops import broker
from ops.demo_data import AGENCIES, demo_agreements, of_type, reference_data
from ops.demo_reports import demo_reports
from ops.runtime import isolated, launch_worker, settled, stop_worker, wait_for, worker_status
from streams import cli
from streams.audit.chain import verify_chain
from streams.core.codec import record_codec
from streams.core.crypto import key_id, parse_ed25519_public
from streams.core.keyfiles import load_x25519_private
from streams.errors import IntelshareError
from streams.kafka.clients import publish, read_topic
from streams.kafka.consume import FeedReader
from streams.log import configure_logging
from streams.settings import Settings
from streams.topics import SUBMISSIONS, Topics

SEED = 20261126


def intelshare(*args: str, quiet: bool = False) -> int:
    """Run one ``intelshare`` command in this process, as an operator would type it."""
    print(f"$ intelshare {' '.join(args)}", flush=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out if quiet else sys.stdout):
        code = cli.main(list(args))
    if code not in (0, 1):
        raise IntelshareError(f"`intelshare {' '.join(args)}` failed with exit {code}")
    return code


def _write(path: Path, lines: Sequence[Any], *, yaml_file: bool = False) -> str:
    text = yaml.safe_dump(list(lines)) if yaml_file else "\n".join(json.dumps(x) for x in lines)
    path.write_text(text + "\n")
    return str(path)


def prepare(settings: Settings, work: Path, now: datetime) -> dict[str, list[Any]]:
    """Topics, keys, agencies, reference data and agreements, through the command line."""
    rng = random.Random(SEED)  # noqa: S311  # demo data, not secrets
    intelshare("topics", "create", quiet=True)
    intelshare("keys", "generate", "--exchange", quiet=True)
    for agency, (name, country) in AGENCIES.items():
        intelshare("keys", "generate", "--agency", agency, quiet=True)
        pub = str(settings.home / "keys" / f"{agency}.pub")
        intelshare("agencies", "register", "--id", agency, "--name", name, "--public-key", pub,
                   "--country", country, quiet=True)  # fmt: skip
    reference = reference_data(rng)
    intelshare("reference", "load", _write(work / "reference.jsonl", reference), quiet=True)
    agreements = _write(work / "agreements.yaml", demo_agreements(now), yaml_file=True)
    intelshare("agreements", "apply", agreements)
    made = demo_reports(rng, of_type(reference, "facility"), of_type(reference, "subject"), now=now)
    return {
        "reports": made.reports,
        "resubmitted": made.resubmissions,
        "rejected": [b.value for b in made.bad if b.stage == "submit"],
        "unknown": [b.value for b in made.bad if b.stage == "enrich"],
        "raw": [b.value for b in made.bad if b.stage == "decode"],
    }


def submit(settings: Settings, work: Path, data: dict[str, list[Any]]) -> int:
    """Submit the reports (resubmissions separately), the rejected ones and the raw bytes."""
    first, resubmitted = data["reports"] + data["unknown"], data["resubmitted"]
    intelshare("submit", _write(work / "reports.jsonl", first), quiet=True)
    intelshare("submit", _write(work / "resubmitted.jsonl", resubmitted), quiet=True)
    print("  (one of them names a facility the exchange does not know: a dead letter)")
    rejected = len(data["rejected"])
    print(f"  ({rejected} reports follow that submit must reject, each naming its field)")
    intelshare("submit", _write(work / "rejected.jsonl", data["rejected"]), quiet=True)
    topic = Topics(settings.topic_prefix).submissions
    publish(settings, topic, [(b"hostile", value) for value in data["raw"]])
    print(f"  and {len(data['raw'])} messages of raw bytes straight onto {topic}")
    return len(first) + len(resubmitted) + len(data["raw"])


def report(settings: Settings, messages: int, began: float) -> None:
    """Per-agency disclosures, one decrypted disclosure, dead letters and the audit chain."""
    exchange = parse_ed25519_public((settings.home / "keys" / "exchange.pub").read_text())
    keys = {key_id(exchange.public_bytes_raw()): exchange}
    print(f"\nreports in: {messages} messages on {SUBMISSIONS}")
    print("disclosures per agency:")
    sample = None
    for agency in AGENCIES:
        private = load_x25519_private(settings.home / "keys" / f"{agency}.key")
        reader = FeedReader(
            settings, agency, private, keys, record_codec(settings.schemas_dir, "Disclosure")
        )
        received = list(reader.read(from_beginning=True))
        refused = sum(r.problem is not None for r in received)
        print(
            f"  {agency:<16} {len(received) - refused:>4}"
            + (f"  REFUSED {refused}" if refused else "")
        )
        sample = sample or next((r.disclosure for r in received if r.disclosure), None)
    if sample is not None:
        print("one disclosure, as its recipient decrypted it:")
        print(json.dumps(sample, indent=2, ensure_ascii=False))
    topics = Topics(settings.topic_prefix)
    dead = read_topic(settings, topics.deadletter)
    print(f"dead letters: {len(dead)}")
    audit_codec = record_codec(settings.schemas_dir, "AuditRecord")
    audit = [audit_codec.decode(r.value) for r in read_topic(settings, topics.audit)]
    print(f"audit chain: {verify_chain(audit, keys)} records, hash links and signatures verified")
    print(f"wall time: {time.monotonic() - began:.1f} s")


def run(base: Settings) -> int:
    """The whole demo; returns the exit code."""
    began = time.monotonic()
    now = datetime.now(UTC)
    started_here = not broker.status(base).answering
    print(f"broker: {broker.start(base)} ({'started' if started_here else 'already running'})")
    settings, work, port = isolated(base, "demo", now)
    print(f"topic prefix {settings.topic_prefix}  state in {work}")
    worker = None
    try:
        data = prepare(settings, work, now)
        print("$ intelshare worker &")
        worker = launch_worker(work / "worker.log", port)
        messages = submit(settings, work, data)
        wait_for(
            "the intake",
            lambda: (worker_status(port) or {}).get("processed", {}).get("intake", 0) >= messages,
            120,
        )
        wait_for("the pipeline to drain", lambda: settled(port), 120)
        report(settings, messages, began)
        return 0
    finally:
        if worker is not None:
            stop_worker(worker)
            print("worker: stopped")
        if started_here:
            broker.stop(base)
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
