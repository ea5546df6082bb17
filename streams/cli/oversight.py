"""Commands of an oversight body: ``intelshare audit ...`` and ``intelshare oversight serve``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.audit.records import FILTERS, export_row, parse_filter, to_csv
from streams.cli.common import (
    Commands,
    actions,
    exchange_key_option,
    later,
    subject_linker,
    verification_keys,
    with_link,
    witness_keys,
)
from streams.cli.https import add_options as add_https_options
from streams.cli.https import listening
from streams.cli.tables import DISCLOSURE_COLUMNS, disclosure_row, table
from streams.cli.witness import register as register_witness
from streams.core.fields import show
from streams.core.times import format_time
from streams.errors import KeyFileError, UnknownAgencyError
from streams.i18n import _, localise, msg
from streams.settings import Settings

__all__ = ["HOST", "fresh_index", "register"]

HOST = "127.0.0.1"
"""The page's default address; elsewhere (``--host``) only with HTTPS, and an authenticating
proxy in front to share it."""


def register(commands: Commands) -> None:
    """Declare the oversight body's commands."""
    audit = actions(
        commands,
        "audit",
        _("oversight of the disclosure log"),
        {
            "verify": (
                _("check the chain and reconcile it with the feeds"),
                later("streams.cli.verify", "audit_verify"),
            ),
            "query": (_("disclosures matching filters: a table, or records as JSON"), audit_query),
            "export": (_("the whole log as JSON lines or CSV"), audit_export),
            "stats": (
                _("records per kind; disclosures per recipient, agreement and day; feedback"),
                audit_stats,
            ),
            "prove": (
                _("an inclusion proof of one disclosure"),
                later("streams.cli.verify", "audit_prove"),
            ),
            "check-proof": (
                _("verify an inclusion or consistency proof offline"),
                later("streams.cli.verify", "audit_check_proof"),
            ),
            "consistency": (
                _("is NEW an append-only extension of OLD (RFC 9162 consistency)"),
                later("streams.cli.consistency", "audit_consistency"),
            ),
        },
    )
    for parser in audit.values():
        exchange_key_option(parser, from_home=False)
    audit["verify"].add_argument("--file", metavar="EXPORT", help=_("verify an export offline"))
    audit["verify"].add_argument(
        "--since-checkpoint", action="store_true",
        help=_("verify only what is new since the last check, into the oversight index"),
    )  # fmt: skip
    every = _("check every record's own signature too, not one per checkpoint (slower)")
    audit["verify"].add_argument("--every-signature", action="store_true", help=every)
    for action in ("verify", "check-proof"):
        audit[action].add_argument(
            "--witness-key", action="append", metavar="PUB",
            help=_("a witness's public key (repeat): require its cosignature of the checkpoint"),
        )  # fmt: skip
        audit[action].add_argument(
            "--min-cosignatures", type=int, metavar="N",
            help=_("cosignatures required from those witnesses (default 1 when any is given)"),
        )  # fmt: skip
    for name in FILTERS:
        audit["query"].add_argument(f"--{name}")
    link_help = "oversight link key; default $INTELSHARE_HOME/keys/oversight.link.key"
    audit["query"].add_argument("--link-key", metavar="FILE", help=link_help)
    audit["query"].add_argument(
        "--json", action="store_true",
        help=_("the whole records (hashes, signature, received_at), one JSON object per line"),
    )  # fmt: skip
    audit["export"].add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    audit["export"].add_argument("--out", metavar="FILE", help=_("default: standard output"))
    audit["prove"].add_argument("disclosure_id", metavar="DISCLOSURE_ID")
    audit["prove"].add_argument("--out", metavar="FILE", help=_("default: standard output"))
    audit["check-proof"].add_argument("file", metavar="FILE")
    for which, text in (("old", "the earlier"), ("new", "the later")):
        audit["consistency"].add_argument(
            which, metavar=which.upper(),
            help=f"{text} checkpoint: a tree size, or a file holding one (a checkpoint, an "
            "inclusion proof, a witness's state.json, an export)",
        )  # fmt: skip
    audit["consistency"].add_argument(
        "--out", metavar="FILE", help=_("write the consistency proof, for `audit check-proof`")
    )

    register_witness(commands)
    pages = actions(
        commands,
        "oversight",
        _("the oversight body's web page"),
        {
            "serve": (_("serve it on 127.0.0.1"), oversight_serve),
            "index": (
                _("read what is new on the log into the local index, verifying it"),
                oversight_index,
            ),
        },
    )
    index = pages["index"]
    exchange_key_option(index, from_home=False)
    index.add_argument(
        "--rebuild", action="store_true", help=_("delete the index and read the whole log again")
    )
    serve = pages["serve"]
    serve.add_argument("--port", type=int, default=6067, help=_("default 6067"))
    exchange_key_option(serve, from_home=False)
    serve.add_argument("--link-key", metavar="FILE", help=link_help)
    serve.add_argument(
        "--witness-key", action="append", metavar="PUB",
        help=_("a witness's public key (repeat): the page shows its last cosigned size and time"),
    )  # fmt: skip
    serve.add_argument(
        "--cache", type=float, default=3.0, metavar="SECONDS", help=_("reread the log after this")
    )
    serve.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help=_("another Host name to answer to (besides 127.0.0.1 and localhost)"),
    )  # fmt: skip
    add_https_options(serve)


def _warn(message: str) -> None:
    print(_("note: {message}", message=localise(message)), file=sys.stderr)


def fresh_index(settings: Settings, args: argparse.Namespace) -> tuple[Any, Any]:
    """The oversight index of this log, with what is new on the log read into it, and what
    that round found (:class:`streams.kafka.auditindex.Round`); a note on stderr when the log
    did not verify (only the records before the first bad one are in it)."""
    from streams.kafka.auditindex import open_index, refresh_index

    keys = verification_keys(settings, args.exchange_key)
    index = open_index(settings, keys, rebuild=getattr(args, "rebuild", False))
    done = refresh_index(settings, index)
    status = index.status()
    if done.problem:
        _warn(done.problem)
    if not status.sound:
        _warn(_(
            "the log did not verify ({detail}): the answers cover the {verified} records "
            "verified; `intelshare audit verify` says more",
            detail=localise(status.detail), verified=status.verified,
        ))  # fmt: skip
    return index, done


def audit_query(settings: Settings, args: argparse.Namespace) -> int:
    """Disclosures matching every filter given, from the oversight index: a table, one line
    each, or with ``--json`` the whole records, one JSON object per line. Exit 1 for a
    ``--recipient`` that is no agency. Without the exchange's public key nothing can be
    verified, so the log is read whole, as it is, and not indexed."""
    from streams.audit.indexquery import count, page, received

    wanted = parse_filter({name: getattr(args, name) for name in FILTERS})
    wanted = with_link(wanted, subject_linker(settings, args.link_key), _warn)
    if wanted.subject_link is not None:
        from streams.kafka.erasure import commitment_of

        wanted = wanted._replace(subject_commitment=commitment_of(settings, wanted.subject_link))
    try:
        index, _fresh = fresh_index(settings, args)
    except KeyFileError as exc:
        _warn(
            _(
                "{problem}; without it the log is read whole, unverified and not indexed",
                problem=localise(exc),
            )
        )
        return _query_unverified(settings, args, wanted)
    if wanted.recipient is not None:
        in_log = count(index.db, parse_filter({"recipient": wanted.recipient})) > 0
        _known_recipient(settings, wanted.recipient, in_log)
    found = page(index.db, wanted, newest_first=False, limit=1000)
    pages = [found]
    while found.next is not None:
        found = page(index.db, wanted, newest_first=False, after=found.next, limit=1000)
        pages.append(found)
    pairs = (
        (record, opened.get(record["disclosure_id"]))
        for got in pages
        for opened in [received(index.db, [r["disclosure_id"] for r in got.records])]
        for record in got.records
    )
    if not _show(pairs, args.json):
        total = count(index.db, parse_filter({}))
        print(_("no disclosures match (of {total} in the log)", total=total), file=sys.stderr)
    return 0


def _query_unverified(settings: Settings, args: argparse.Namespace, wanted: Any) -> int:
    from streams.audit.records import matches
    from streams.kafka.auditlog import audit_records, receipt_times

    records = audit_records(settings)
    if wanted.recipient is not None:
        in_log = any(r["recipient"] == wanted.recipient for r in records)
        _known_recipient(settings, wanted.recipient, in_log)
    opened = receipt_times(settings)
    pairs = ((r, opened.get(r["disclosure_id"])) for r in records if matches(r, wanted))
    if not _show(pairs, args.json):
        print(
            _("no disclosures match (of {count} in the log)", count=len(records)), file=sys.stderr
        )
    return 0


def _show(pairs: Iterable[tuple[dict[str, Any], datetime | None]], as_json: bool) -> int:
    """Print the records (with when each was opened) as a table or JSON lines; how many."""
    shown = 0
    rows: list[tuple[object, ...]] = []
    for record, moment in pairs:
        shown += 1
        if as_json:
            row = export_row(record)
            row["received_at"] = format_time(moment) if moment else None
            print(json.dumps(row, ensure_ascii=False))
        else:
            rows.append(disclosure_row(record, moment))
    if rows:
        for line in table(DISCLOSURE_COLUMNS, rows):
            print(line)
    return shown


def _known_recipient(settings: Settings, recipient: str, in_log: bool) -> None:
    """UnknownAgencyError unless ``recipient`` is in the log or a registered agency."""
    from streams.kafka.auditlog import agencies

    if in_log or recipient in agencies(settings):
        return
    raise UnknownAgencyError(
        msg(
            "--recipient {recipient} is no registered agency and has no disclosure in the log; "
            "`intelshare agencies list` shows the agency ids",
            recipient=show(recipient, 40),
        )
    )


def audit_export(settings: Settings, args: argparse.Namespace) -> int:
    """The whole log as JSON lines (verifiable offline: a last line carries the latest signed
    checkpoint over the records) or CSV."""
    from streams.audit.offline import export_trailer
    from streams.audit.witness import of_checkpoint
    from streams.kafka.auditlog import audit_records, checkpoints, readable_cosignatures

    if args.format == "csv":
        rows = [export_row(r) for r in audit_records(settings)]
        text = to_csv(rows)
    else:
        signed = checkpoints(settings)  # first: each checkpoint read covers records read after
        cosigned, unread = readable_cosignatures(settings)
        if unread:
            _warn(unread)
        records = audit_records(settings)
        rows = [export_row(r) for r in records]
        checkpoint = max(
            (c for c in signed if c["tree_size"] <= len(records)),
            key=lambda c: c["tree_size"], default=None,
        )  # fmt: skip
        if checkpoint is None and records:
            _warn(
                "no signed checkpoint covers these records yet, so the copy will not verify; "
                f"export again in {settings.checkpoint_seconds:.0f} s"
            )
        found = of_checkpoint(checkpoint, cosigned) if checkpoint is not None else []
        lines = [*rows, export_trailer(checkpoint, found)]
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(_("{count} records written to {out}", count=len(rows), out=args.out), file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.format == "csv":
        print(
            _(
                "the CSV export is for reading, not for checking: `audit verify --file` takes the "
                "JSON lines export (the default format)"
            ),
            file=sys.stderr,
        )
    return 0


def audit_stats(settings: Settings, args: argparse.Namespace) -> int:
    """Records per kind; disclosures per recipient, per agreement and per day; feedback per
    recipient: from the oversight index."""
    from streams.audit.indexquery import stats
    from streams.cli.tables import stats_lines

    try:
        figures = stats(fresh_index(settings, args)[0].db)
    except KeyFileError as exc:
        from streams.audit.records import stats as count_records
        from streams.kafka.auditlog import audit_records

        _warn(
            _(
                "{problem}; without it the log is read whole, unverified and not indexed",
                problem=localise(exc),
            )
        )
        figures = count_records(audit_records(settings))
    for line in stats_lines(figures):
        print(line)
    return 0


def oversight_index(settings: Settings, args: argparse.Namespace) -> int:
    """Bring the oversight index up to date (``--rebuild``: from nothing); exit 1 when the log
    does not verify."""
    import time

    began = time.monotonic()
    index, done = fresh_index(settings, args)
    status = index.status()
    took = time.monotonic() - began
    sound = status.sound and done.problem is None
    shown = {"verified": status.verified, "index_path": index.db.shown, "took": took}
    if sound:
        print(
            _(
                "sound: {verified} records verified and indexed in {index_path} ({took:.1f} s)",
                **shown,
            )
        )
    else:
        print(
            _(
                "BROKEN: {verified} records verified and indexed in {index_path} ({took:.1f} s)",
                **shown,
            )
        )
    return 0 if sound else 1


def oversight_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the oversight page on 127.0.0.1 (or ``--host``, over HTTPS) until interrupted."""
    import functools

    from aiohttp import web

    from streams.kafka.erasure import commitment_of
    from streams.web.app import oversight_app

    where = listening(settings, args, "intelshare oversight serve")
    keys = verification_keys(settings, args.exchange_key)
    linker = subject_linker(settings, args.link_key)
    if linker is None:
        _warn(_("no oversight link key: a subject filter finds only ids disclosed in clear"))
    app = oversight_app(
        settings, keys, ttl=args.cache, linker=linker, hosts=[*args.allow_host, *where.names],
        commitments=functools.partial(commitment_of, settings),
        witness_keys=witness_keys(settings, args.witness_key),
    )  # fmt: skip
    print(_("oversight page on {url}", url=where.url(args.port)), flush=True)
    web.run_app(
        app, host=where.host, port=args.port, print=None, access_log=None,
        ssl_context=where.context,
    )  # fmt: skip
    return 0
