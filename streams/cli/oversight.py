"""Commands of an oversight body: ``intelshare audit ...`` and ``intelshare oversight serve``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from streams.audit.checkpoint import check_proof, make_proof
from streams.audit.records import (
    FILTERS,
    Discrepancy,
    export_row,
    import_row,
    matches,
    parse_filter,
    reconcile,
    stats,
    to_csv,
)
from streams.audit.verify import key_hint, verify_log
from streams.cli.common import (
    Commands,
    actions,
    read_text,
    subject_linker,
    verification_keys,
    with_link,
)
from streams.cli.tables import DISCLOSURE_COLUMNS, disclosure_row, table
from streams.core.fields import show
from streams.core.inputs import load_json
from streams.core.times import format_time
from streams.errors import ConfigError, MalformedInputError, SignatureError, UnknownAgencyError
from streams.kafka.auditlog import (
    agencies,
    audit_records,
    feed_disclosures,
    latest_checkpoint,
    receipt_times,
)
from streams.settings import Settings

__all__ = ["HOST", "register"]

HOST = "127.0.0.1"
"""The page is for this machine only; put an authenticating proxy in front to share it."""


def register(commands: Commands) -> None:
    """Declare the oversight body's commands."""
    audit = actions(
        commands,
        "audit",
        "oversight of the disclosure log",
        {
            "verify": ("check the chain and reconcile it with the feeds", audit_verify),
            "query": ("disclosures matching filters: a table, or records as JSON", audit_query),
            "export": ("the whole log as JSON lines or CSV", audit_export),
            "stats": ("disclosures per recipient, agreement and day", audit_stats),
            "prove": ("an inclusion proof of one disclosure", audit_prove),
            "check-proof": ("verify an inclusion proof offline", audit_check_proof),
        },
    )
    for parser in audit.values():
        parser.add_argument(
            "--exchange-key", action="append", metavar="PUB", help="exchange public key (repeat)"
        )
    audit["verify"].add_argument("--file", metavar="EXPORT", help="verify an export offline")
    for name in FILTERS:
        audit["query"].add_argument(f"--{name}")
    link_help = "oversight link key; default $INTELSHARE_HOME/keys/oversight.link.key"
    audit["query"].add_argument("--link-key", metavar="FILE", help=link_help)
    audit["query"].add_argument(
        "--json", action="store_true",
        help="the whole records (hashes, signature, received_at), one JSON object per line",
    )  # fmt: skip
    audit["export"].add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    audit["export"].add_argument("--out", metavar="FILE", help="default: standard output")
    audit["prove"].add_argument("disclosure_id", metavar="DISCLOSURE_ID")
    audit["prove"].add_argument("--out", metavar="FILE", help="default: standard output")
    audit["check-proof"].add_argument("file", metavar="FILE")

    serve = actions(
        commands,
        "oversight",
        "the oversight body's web page",
        {"serve": ("serve it on 127.0.0.1", oversight_serve)},
    )["serve"]
    serve.add_argument("--port", type=int, default=6067, help="default 6067")
    serve.add_argument(
        "--exchange-key", action="append", metavar="PUB", help="exchange public key (repeat)"
    )
    serve.add_argument("--link-key", metavar="FILE", help=link_help)
    serve.add_argument(
        "--cache", type=float, default=3.0, metavar="SECONDS", help="reread the log after this"
    )
    serve.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help="another Host name to answer to (besides 127.0.0.1 and localhost)",
    )  # fmt: skip


def _warn(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _from_file(path: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = load_json(line)
        except MalformedInputError as exc:
            if number == 1 and line.startswith("sequence,"):
                raise ConfigError(
                    f"{path} is the CSV export, which is for spreadsheets and cannot be verified "
                    "(it flattens the signed fields); verify the JSON lines export: "
                    "`intelshare audit export --out copy.jsonl`"
                ) from exc
            raise ConfigError(f"{path} line {number}: not an audit export row ({exc})") from exc
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
    """Check every hash link and signature and the checkpoint; online, reconcile the feeds."""
    keys = verification_keys(settings, args.exchange_key)
    records = list(_from_file(args.file)) if args.file else audit_records(settings)
    checkpoint = None if args.file else latest_checkpoint(settings)
    status = verify_log(_progress(records, len(records)), checkpoint, keys)
    if not status.sound:
        where = f"at sequence {status.broken_at}: " if status.broken_at is not None else ""
        print(f"BROKEN {where}{status.detail}")
        hint = key_hint(status)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        return 1
    if args.file:
        print(f"sound: {status.records} records, hash links and signatures verified (offline)")
        return 0
    feeds = feed_disclosures(settings, {r["recipient"] for r in records})
    covered = (
        f", {checkpoint['tree_size']} under the latest signed checkpoint" if checkpoint else ""
    )
    if feeds is None:
        print(
            f"sound: {status.records} records, chain verified{covered}; the feeds were not "
            "reconciled: this credential may not read them (the exchange's operator can)"
        )
        return 0
    discrepancies = reconcile(records, feeds)
    if discrepancies:
        _print_discrepancies(discrepancies)
        return 1
    print(
        f"sound: {status.records} records, chain verified{covered}, every feed message audited once"
    )
    return 0


def _print_discrepancies(discrepancies: list[Discrepancy]) -> None:
    first = discrepancies[0]
    where = f"sequence {first.sequence}" if first.sequence is not None else "a feed"
    print(f"BROKEN at {where}: disclosure {first.disclosure_id} {first.reason}")
    for other in discrepancies[1:]:
        print(f"  also: disclosure {other.disclosure_id} {other.reason}", file=sys.stderr)


def audit_prove(settings: Settings, args: argparse.Namespace) -> int:
    """An inclusion proof of one disclosure against the latest checkpoint, as JSON."""
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
    try:
        proof = load_json(read_text(args.file))
    except MalformedInputError as exc:
        raise ConfigError(f"{args.file} is not a proof: {exc}") from exc
    try:
        keys = verification_keys(settings, args.exchange_key).keys
        print("proven: " + check_proof(proof, keys))
    except SignatureError as exc:
        print(f"NOT PROVEN: {exc}")
        return 1
    return 0


def audit_query(settings: Settings, args: argparse.Namespace) -> int:
    """Disclosures matching every filter given: a table, one line each, or with ``--json`` the
    whole records, one JSON object per line. Exit 1 for a ``--recipient`` that is no agency."""
    wanted = parse_filter({name: getattr(args, name) for name in FILTERS})
    wanted = with_link(wanted, subject_linker(settings, args.link_key), _warn)
    records = audit_records(settings)
    if wanted.recipient is not None:
        _known_recipient(settings, wanted.recipient, records)
    received = receipt_times(settings)
    found = [r for r in records if matches(r, wanted)]
    if not found:
        print(f"no disclosures match (of {len(records)} in the log)", file=sys.stderr)
        return 0
    if not args.json:
        rows = (disclosure_row(r, received.get(r["disclosure_id"])) for r in found)
        for line in table(DISCLOSURE_COLUMNS, rows):
            print(line)
        return 0
    for record in found:
        row = export_row(record)
        moment = received.get(record["disclosure_id"])
        row["received_at"] = format_time(moment) if moment else None
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _known_recipient(settings: Settings, recipient: str, records: list[dict[str, Any]]) -> None:
    """UnknownAgencyError unless ``recipient`` is a registered agency or in the log."""
    if recipient in agencies(settings) or any(r["recipient"] == recipient for r in records):
        return
    raise UnknownAgencyError(
        f"--recipient {show(recipient, 40)} is no registered agency and has no disclosure in the "
        "log; `intelshare agencies list` shows the agency ids"
    )


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
    if args.format == "csv":
        print(
            "the CSV export is for reading, not for checking: `audit verify --file` takes the "
            "JSON lines export (the default format)",
            file=sys.stderr,
        )
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


def oversight_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the oversight page on 127.0.0.1 until interrupted."""
    from aiohttp import web

    from streams.web.app import oversight_app

    keys = verification_keys(settings, args.exchange_key)
    linker = subject_linker(settings, args.link_key)
    if linker is None:
        _warn("no oversight link key: a subject filter finds only ids disclosed in clear")
    app = oversight_app(settings, keys, ttl=args.cache, linker=linker, hosts=args.allow_host)
    print(f"oversight page on http://{HOST}:{args.port}/", flush=True)
    web.run_app(app, host=HOST, port=args.port, print=None, access_log=None)
    return 0
