"""Handlers of ``intelshare audit ...``: the oversight body's commands. Parsed in streams.cli."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from streams.audit import AuditFilter, export_row, import_row, matches, reconcile, stats, to_csv
from streams.auditlog import audit_records, latest_checkpoint, receipt_times
from streams.chain import ChainVerifier
from streams.checkpoint import log_against_checkpoint
from streams.cli_exchange import read_text
from streams.errors import ChainBrokenError, ConfigError, NotAuthorisedError, TopicMissingError
from streams.report import format_time
from streams.rotation import retired_exchange_keys
from streams.settings import Settings

__all__ = [
    "audit_check_proof",
    "audit_export",
    "audit_prove",
    "audit_query",
    "audit_stats",
    "audit_verify",
]


def _codec(settings: Settings, name: str) -> Any:
    from streams.codec import Codec
    from streams.schemas import SchemaSet

    return Codec(SchemaSet.from_directory(settings.schemas_dir), f"intelshare.{name}")


def exchange_keys(settings: Settings, files: list[str] | None) -> dict[str, Ed25519PublicKey]:
    """The exchange's published signing keys by key id: the ``--exchange-key`` files given, or
    every ``exchange*.pub`` (current and rotated) in ``$INTELSHARE_HOME/keys``."""
    from streams.crypto import key_id, parse_ed25519_public
    from streams.rotation import published_exchange_keys

    if not files:
        return published_exchange_keys(settings.home / "keys")
    keys = {}
    for path in files:
        public = parse_ed25519_public(read_text(path).strip())
        keys[key_id(public.public_bytes_raw())] = public
    return keys


def _from_file(path: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} line {number}: not JSON ({exc.msg})") from exc
        yield import_row(row, f"{path} line {number}")


def _progress(records: Iterable[Mapping[str, Any]], total: int) -> Iterator[Mapping[str, Any]]:
    shown = sys.stderr.isatty() and total > 2000
    for done, record in enumerate(records, 1):
        if shown and done % 1000 == 0:
            filled = 30 * done // total
            print(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr
            )
        yield record
    if shown:
        print(file=sys.stderr)


def audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check every hash link and signature; online, also reconcile with the feeds."""
    keys = exchange_keys(settings, args.exchange_key)
    records = list(_from_file(args.file)) if args.file else audit_records(settings)
    retired = {} if args.exchange_key else retired_exchange_keys(settings.home / "keys")
    verifier = ChainVerifier(keys, retired)
    try:
        for record in _progress(records, len(records)):
            verifier.feed(record)
    except ChainBrokenError as exc:
        print(f"BROKEN at sequence {exc.sequence}: {exc.reason}")
        return 1
    if args.file:
        print(f"sound: {verifier.count} records, hash links and signatures verified (offline)")
        return 0
    checkpoint = latest_checkpoint(settings)
    if checkpoint is not None:
        problem = log_against_checkpoint(records, checkpoint, keys)
        if problem:
            print(f"BROKEN against the checkpoint of {checkpoint['tree_size']} records: {problem}")
            return 1
    feeds = _feed_disclosures(settings, {r["recipient"] for r in records})
    if feeds is None:
        print(
            f"sound: {verifier.count} records, chain verified; the feeds were not reconciled: "
            "this credential may not read them (the exchange's operator can)"
        )
        return 0
    discrepancies = reconcile(records, feeds)
    if discrepancies:
        first = discrepancies[0]
        where = f"sequence {first.sequence}" if first.sequence is not None else "a feed"
        print(f"BROKEN at {where}: disclosure {first.disclosure_id} {first.reason}")
        for other in discrepancies[1:]:
            print(f"  also: disclosure {other.disclosure_id} {other.reason}", file=sys.stderr)
        return 1
    covered = (
        f", {checkpoint['tree_size']} under the latest signed checkpoint" if checkpoint else ""
    )
    print(
        f"sound: {verifier.count} records, chain verified{covered}, every feed message audited once"
    )
    return 0


def audit_prove(settings: Settings, args: argparse.Namespace) -> int:
    """An inclusion proof of one disclosure against the latest checkpoint, as JSON."""
    from streams.checkpoint import make_proof

    records = audit_records(settings)
    record = next((r for r in records if r["disclosure_id"] == args.disclosure_id), None)
    if record is None:
        raise ConfigError(f"no audit record for disclosure {args.disclosure_id}")
    checkpoint = latest_checkpoint(settings)
    if checkpoint is None or record["sequence"] >= checkpoint["tree_size"]:
        raise ConfigError(
            f"record {record['sequence']} is not under a checkpoint yet; the worker signs one "
            f"within {settings.checkpoint_seconds:.0f} s of new records: try again then"
        )
    proof = make_proof(record, [r["hash"] for r in records], checkpoint)
    text = json.dumps(proof, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"proof written to {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def audit_check_proof(settings: Settings, args: argparse.Namespace) -> int:
    """Verify an inclusion proof offline, with the exchange's public key and no broker."""
    from streams.checkpoint import check_proof
    from streams.errors import SignatureError

    try:
        proof = json.loads(read_text(args.file))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{args.file} is not JSON: {exc.msg}") from exc
    try:
        print("proven: " + check_proof(proof, exchange_keys(settings, args.exchange_key)))
    except SignatureError as exc:
        print(f"NOT PROVEN: {exc}")
        return 1
    return 0


def _feed_disclosures(settings: Settings, recipients: set[str]) -> list[dict[str, Any]] | None:
    """Every disclosure on every feed; None when this credential can see none of the feeds
    (an oversight body's may not read them). A feed it cannot see while others are visible
    counts as empty, so the disclosures audited for it are reported missing."""
    from streams.clients import latest_by_key, read_topic
    from streams.topics import feed_topic

    agencies = latest_by_key(settings, settings.topic_prefix + "intel.ref.agencies")
    codec = _codec(settings, "Disclosure")
    disclosures: list[dict[str, Any]] = []
    visible = 0
    for agency in sorted(recipients | {key.decode() for key in agencies}):
        try:
            records = read_topic(settings, settings.topic_prefix + feed_topic(agency))
        except (NotAuthorisedError, TopicMissingError):
            continue
        visible += 1
        disclosures.extend(codec.decode(record.value) for record in records)
    return disclosures if visible or not recipients else None


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not an ISO 8601 time, e.g. 2026-11-01T00:00:00Z") from exc
    if moment.tzinfo is None:
        raise ConfigError(f"{text!r} needs a time zone, e.g. a trailing Z")
    return moment


def audit_query(settings: Settings, args: argparse.Namespace) -> int:
    """Audit records matching every filter given, one JSON object per line."""
    wanted = AuditFilter(
        args.recipient,
        args.agreement,
        args.subject,
        args.event,
        _time(args.since),
        _time(args.until),
    )
    received = receipt_times(settings)
    for record in audit_records(settings):
        if matches(record, wanted):
            row = export_row(record)
            moment = received.get(record["disclosure_id"])
            row["received_at"] = format_time(moment) if moment else None
            print(json.dumps(row, ensure_ascii=False))
    return 0


def audit_export(settings: Settings, args: argparse.Namespace) -> int:
    """The whole log as JSON lines (verifiable offline) or CSV."""
    rows = [export_row(r) for r in audit_records(settings)]
    if args.format == "csv":
        text = to_csv(rows)
    else:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{len(rows)} records written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def audit_stats(settings: Settings, args: argparse.Namespace) -> int:
    """Disclosures per recipient, per agreement and per day."""
    figures = stats(audit_records(settings))
    print(f"disclosures: {figures['disclosures']}")
    for title in ("per_recipient", "per_agreement", "per_day"):
        print(title.replace("_", " ") + ":")
        for key, count in figures[title].items():
            print(f"  {key:<32} {count:>7}")
    return 0
