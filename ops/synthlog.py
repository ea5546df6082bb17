"""A big synthetic disclosure log, to measure oversight at the scale of years (issue 15).

``python -m ops.synthlog --records 100000 --prefix big-`` writes N audit records to
``<prefix>intel.audit``, chained and signed exactly as the sequencer does it
(:func:`streams.audit.chain.seal_record` with the exchange key of ``--keys``, generated there
when absent), a signed checkpoint every ``--checkpoint-every`` records and after the last
(:func:`streams.audit.checkpoint.sign_checkpoint` over the RFC 9162 root of a
:class:`streams.audit.merkle.Frontier`), the recipients as registered agencies with receipt
keys, and a signed consultation receipt (:func:`streams.audit.receipts.make_receipt`) for a
share of the disclosures. Disclosures are ``--step`` seconds apart from ``--start`` (90 s: a
million records span about three years). Nothing here re-implements the chain: it is the
project's own sealing, signing and tree code with made-up content.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.merkle import Frontier, leaf_hash
from streams.audit.receipts import make_receipt
from streams.core.codec import Codec, record_codec
from streams.core.crypto import key_id
from streams.core.keyfiles import generate_exchange_keys, load_ed25519_private
from streams.kafka.clients import consumer, producer
from streams.kafka.topics import create_topics
from streams.settings import Settings
from streams.topics import CATALOGUE, Topics

__all__ = ["RECIPIENTS", "main", "synthetic_records"]

RECIPIENTS = ("kz-knb", "kg-gknb", "tj-gknb", "iq-inss", "kz-gp", "tj-prosecutor")
"""The made-up recipients, two agreements each."""
_FIELDS = ["event_id", "kind", "occurred_at", "category", "severity", "subjects"]


def synthetic_records(
    count: int, signing_key: Ed25519PrivateKey, start: datetime, step: float, seed: int = 15
) -> Iterator[dict[str, Any]]:
    """``count`` sealed audit records, a sound chain from sequence 0."""
    rng = random.Random(seed)  # noqa: S311  # synthetic content, not secrets
    kid = key_id(signing_key.public_key().public_bytes_raw())
    prev = GENESIS
    for i in range(count):
        recipient = RECIPIENTS[rng.randrange(len(RECIPIENTS))]
        agreement = f"{recipient.upper()}-2026-0{1 + rng.randrange(2)}"
        when = start + timedelta(seconds=i * step)
        pending = {
            "disclosure_id": f"syn-{i:08d}", "event_id": f"ev-{i // 2:08d}",
            "agreement_id": agreement, "agreement_version": 1 + rng.randrange(3),
            "recipient": recipient, "purpose": "prevention of terrorist offences",
            "legal_basis": "statute, article 7", "fields_disclosed": _FIELDS,
            "subjects": [f"KZ-P-{rng.randrange(20000):06d}"],
            "payload_sha256": rng.randbytes(32), "disclosure_sha256": rng.randbytes(32),
            "disclosed_at": when, "subject_links": [],
        }  # fmt: skip
        record = seal_record(
            pending, sequence=i, prev_hash=prev, key_id=kid, signing_key=signing_key, now=when
        )
        prev = record["hash"]
        yield record


def _exchange_key(folder: Path) -> Ed25519PrivateKey:
    if not (folder / "exchange.key").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        generate_exchange_keys(folder)
    return load_ed25519_private(folder / "exchange.key")


def _agencies(codec: Codec, now: datetime) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """Agency records with receipt keys, and those keys' private halves by agency id."""
    pairs, signing = [], {}
    for agency in RECIPIENTS:
        receipt_key = Ed25519PrivateKey.generate()
        public = X25519PrivateKey.generate().public_key().public_bytes_raw()
        record = {
            "agency_id": agency, "name": agency, "country": agency[:2].upper(),
            "public_key": public, "key_id": key_id(public), "registered_at": now,
            "signing_key": receipt_key.public_key().public_bytes_raw(),
        }  # fmt: skip
        pairs.append((agency.encode(), codec.encode(record)))
        signing[agency] = receipt_key
    return pairs, signing


def write_log(settings: Settings, args: argparse.Namespace) -> dict[str, float]:
    """Write the log; returns what was written and how long it took."""
    topics = Topics(settings.topic_prefix)
    create_topics(settings, CATALOGUE)
    key = _exchange_key(Path(args.keys))
    kid = key_id(key.public_key().public_bytes_raw())
    codecs = {n: record_codec(settings.schemas_dir, n) for n in ("AuditRecord", "Checkpoint")}
    receipt_codec = record_codec(settings.schemas_dir, "Receipt")
    start = datetime.fromisoformat(args.start)
    agencies, receipt_keys = _agencies(record_codec(settings.schemas_dir, "Agency"), start)
    client = producer(settings, linger_ms=50, batch_size=512 * 1024)
    for pair in agencies:
        client.send(topics.agencies, key=pair[0], value=pair[1])
    rng = random.Random(args.seed + 1)  # noqa: S311  # which get receipts, not secrets
    frontier, began, checkpoints, receipts = Frontier(), time.monotonic(), 0, 0
    record: dict[str, Any] = {}
    for record in synthetic_records(args.records, key, start, args.step, args.seed):
        client.send(topics.audit, key=record["disclosure_id"].encode(),
                    value=codecs["AuditRecord"].encode(record))  # fmt: skip
        frontier.append(leaf_hash(record["hash"]))
        if rng.random() < args.receipts:
            receipt = make_receipt(
                record["disclosure_id"], record["recipient"], receipt_keys[record["recipient"]],
                record["disclosed_at"] + timedelta(minutes=rng.randrange(1, 600)),
            )  # fmt: skip
            client.send(topics.receipts, key=record["disclosure_id"].encode(),
                        value=receipt_codec.encode(receipt))  # fmt: skip
            receipts += 1
        last = frontier.size == args.records
        if frontier.size % args.checkpoint_every == 0 or last:
            checkpoint = sign_checkpoint(
                tree_size=frontier.size, root_hash=frontier.root(), head_hash=record["hash"],
                key_id=kid, signing_key=key, now=record["disclosed_at"],
            )  # fmt: skip
            client.send(topics.checkpoints, key=str(frontier.size).encode(),
                        value=codecs["Checkpoint"].encode(checkpoint))  # fmt: skip
            checkpoints += 1
        if frontier.size % 50000 == 0:
            print(f"{frontier.size}/{args.records}", file=sys.stderr, flush=True)
    client.flush(timeout=600)
    client.close()
    return {
        "records": args.records, "checkpoints": checkpoints, "receipts": receipts,
        "seconds": round(time.monotonic() - began, 1),
    }  # fmt: skip


def _last_record(settings: Settings, topic: str) -> dict[str, Any]:
    from kafka import TopicPartition

    from streams.kafka.auditindex import read_from

    reader = consumer(settings, group_id=None)
    try:
        partition = TopicPartition(topic, 0)
        end = reader.end_offsets([partition])[partition]
    finally:
        reader.close()
    found = [
        record for _, _, record in read_from(settings, topic, {0: max(end - 1, 0)}, "AuditRecord")
    ]
    if not found:
        raise SystemExit("the log is empty: write one with --records first")
    return found[-1]


def append_records(settings: Settings, keys: Path, count: int, now: datetime) -> int:
    """Chain ``count`` more records onto the end of the log (as the sequencer would) and wait
    until the broker has them; returns the sequence number of the last. For measuring how soon
    a new record shows on the oversight page."""
    topic = Topics(settings.topic_prefix).audit
    codec = record_codec(settings.schemas_dir, "AuditRecord")
    key = load_ed25519_private(keys / "exchange.key")
    kid = key_id(key.public_key().public_bytes_raw())
    last = _last_record(settings, topic)
    client = producer(settings)
    prev, sequence = last["hash"], int(last["sequence"])
    for _ in range(count):
        sequence += 1
        pending = dict(last, disclosure_id=f"syn-new-{sequence:08d}", disclosed_at=now)
        record = seal_record(
            pending, sequence=sequence, prev_hash=prev, key_id=kid, signing_key=key, now=now
        )
        prev = record["hash"]
        client.send(topic, key=record["disclosure_id"].encode(), value=codec.encode(record))
    client.flush(timeout=60)
    client.close()
    return sequence


def main(argv: list[str] | None = None) -> int:
    """``python -m ops.synthlog --records N --prefix P``."""
    parser = argparse.ArgumentParser(prog="python -m ops.synthlog", description=__doc__)
    parser.add_argument("--records", type=int, required=True, metavar="N")
    parser.add_argument("--prefix", required=True, help="topic prefix, e.g. big-")
    home = Path(os.environ.get("INTELSHARE_HOME", ".intelshare"))
    parser.add_argument("--keys", default=str(home / "keys"), help="exchange key folder")
    parser.add_argument("--checkpoint-every", type=int, default=1000, metavar="N")
    parser.add_argument("--receipts", type=float, default=0.5, help="share with a receipt")
    parser.add_argument("--start", default="2024-01-01T00:00:00+00:00")
    parser.add_argument("--step", type=float, default=90.0, help="seconds between records")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    settings = dataclasses.replace(Settings.load(), topic_prefix=args.prefix)
    result = write_log(settings, args)
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
