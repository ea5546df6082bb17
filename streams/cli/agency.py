"""Commands of a partner agency: ``intelshare consume`` and ``intelshare taxii serve``; its
``intelshare feedback`` (with a unit's ``feedback list``) in :mod:`.feedback`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.cli.common import (
    Commands,
    actions,
    exchange_key_option,
    key_file,
    keys_dir,
    verification_keys,
)
from streams.cli.feedback import register as register_feedback
from streams.cli.https import add_options as add_https_options
from streams.cli.https import listening
from streams.errors import ConfigError, KeyFileError
from streams.i18n import _, localise, msg
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.kafka.consume import ReceiptSender

__all__ = ["register"]

HOST = "127.0.0.1"
"""The TAXII server listens here by default; elsewhere (``--host``) only with HTTPS."""


def register(commands: Commands) -> None:
    """Declare the agency's commands."""
    consume = commands.add_parser("consume", help=_("read, verify and decrypt an agency's feed"))
    consume.add_argument("--agency", required=True, metavar="ID")
    consume.add_argument(
        "--key", action="append", metavar="FILE",
        help=_("the agency's private key; repeat with keys from before a rotation (default: "
        "ID.key and every rotated ID.<key id>.key in $INTELSHARE_HOME/keys)"),
    )  # fmt: skip
    exchange_key_option(consume)
    consume.add_argument("--follow", action="store_true", help=_("wait for new disclosures"))
    consume.add_argument(
        "--sign-key",
        metavar="FILE",
        help=_("receipt key; default $INTELSHARE_HOME/keys/ID.sign.key"),
    )
    consume.add_argument("--from-beginning", action="store_true", help=_("reread the whole feed"))
    consume.add_argument("--pretty", action="store_true", help=_("indented JSON, one per block"))
    consume.add_argument(
        "--format", choices=tuple(FORMATS), default="json",
        help=_("json: intelshare's own form (default); stix21: one STIX 2.1 bundle per "
        "disclosure; misp: one MISP event per disclosure"),
    )  # fmt: skip
    consume.add_argument(
        "--skip-refused", action="store_true",
        help=_("move past disclosures that cannot be opened (each is recorded in "
        "$INTELSHARE_HOME/skipped/ID.jsonl); without it, consume stops at the first and "
        "resumes from it next time"),
    )  # fmt: skip
    consume.set_defaults(handler=consume_feed)
    _register_taxii(commands)
    register_feedback(commands)


def _register_taxii(commands: Commands) -> None:
    serve = actions(
        commands,
        "taxii",
        _("the agency's read-only TAXII 2.1 server over its decrypted feed"),
        {"serve": (_("serve it on 127.0.0.1"), taxii_serve)},
    )["serve"]
    serve.add_argument("--agency", required=True, metavar="ID")
    serve.add_argument(
        "--key", action="append", metavar="FILE",
        help=_("the agency's private key (repeat); default as for consume"),
    )  # fmt: skip
    exchange_key_option(serve)
    serve.add_argument("--port", type=int, default=6068, help=_("default 6068"))
    serve.add_argument(
        "--password-file", metavar="FILE",
        help=_("HTTP Basic password (user: the agency id); created, mode 0600, when absent; "
        "default $INTELSHARE_HOME/taxii/ID.password"),
    )  # fmt: skip
    serve.add_argument(
        "--cache", type=float, default=5.0, metavar="SECONDS", help=_("reread the feed after this")
    )
    serve.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help=_("another Host name to answer to (besides 127.0.0.1 and localhost)"),
    )  # fmt: skip
    add_https_options(serve)


def _as_json(disclosure: dict[str, Any], pretty: bool) -> str:
    return json.dumps(disclosure, ensure_ascii=False, indent=2 if pretty else None)


def _as_stix(disclosure: dict[str, Any], pretty: bool) -> str:
    from streams.formats import stix  # stix2 takes a second to import: only when asked for

    text = stix.bundle_text(disclosure)
    return json.dumps(json.loads(text), ensure_ascii=False, indent=2) if pretty else text


def _as_misp(disclosure: dict[str, Any], pretty: bool) -> str:
    if "type" in disclosure:  # a recall or correction notice: MISP has no form for it
        return _as_json(disclosure, pretty)
    from streams.formats import misp  # pymisp and stix2 load slowly: only when asked for

    text = misp.event_text(disclosure)
    return json.dumps(json.loads(text), ensure_ascii=False, indent=2) if pretty else text


FORMATS: dict[str, Callable[[dict[str, Any], bool], str]] = {
    "json": _as_json,
    "stix21": _as_stix,
    "misp": _as_misp,
}
"""``consume --format``: how one opened disclosure is printed (``pretty``: indented)."""


def _private_key_files(settings: Settings, args: argparse.Namespace) -> list[Path]:
    if args.key:
        return [key_file(settings, k) for k in args.key]
    folder = keys_dir(settings)
    current = folder / f"{args.agency}.key"
    rotated = [
        p for p in sorted(folder.glob(f"{args.agency}.*.key")) if not p.name.endswith(".sign.key")
    ]
    found = ([current] if current.is_file() else []) + rotated
    if not found:
        raise KeyFileError(
            msg(
                "no key {current}: pass the agency's private key with --key, or generate one with "
                "`intelshare keys generate --agency {agency}`",
                current=current,
                agency=args.agency,
            )
        )
    return found


def _receipts(settings: Settings, args: argparse.Namespace) -> ReceiptSender | None:
    from streams.core.keyfiles import load_ed25519_private
    from streams.kafka.consume import ReceiptSender

    default = keys_dir(settings) / f"{args.agency}.sign.key"
    path = Path(args.sign_key) if args.sign_key else (default if default.is_file() else None)
    if path is None:
        print(_("no receipt key: consultation receipts are not sent"), file=sys.stderr)
        return None
    try:  # to verify the checkpoint each receipt names (issue 12)
        exchange = verification_keys(settings, getattr(args, "exchange_key", None)).keys
    except KeyFileError:
        exchange = None
    return ReceiptSender(settings, args.agency, load_ed25519_private(path), exchange)


def consume_feed(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare consume --agency ID [--key FILE]... [--follow] [--from-beginning]
    [--format json|stix21|misp]``."""
    from streams.core.keyfiles import agency_keys
    from streams.kafka.consume import FeedReader, skipped_file

    private = agency_keys(_private_key_files(settings, args))
    reader = FeedReader(
        settings, args.agency, private, verification_keys(settings, args.exchange_key).keys
    )
    receipts = _receipts(settings, args)
    opened = refused = 0
    try:
        for received in reader.read(
            follow=args.follow, from_beginning=args.from_beginning, skip_refused=args.skip_refused
        ):
            if received.disclosure is None:
                refused += 1
                shown = {
                    "partition": received.partition,
                    "offset": received.offset,
                    "problem": localise(received.problem),
                }
                if args.skip_refused:
                    print(
                        _("skipped partition {partition} offset {offset}: {problem}", **shown),
                        file=sys.stderr,
                    )
                else:
                    print(
                        _("refused partition {partition} offset {offset}: {problem}", **shown),
                        file=sys.stderr,
                    )
                continue
            opened += 1
            print(FORMATS[args.format](received.disclosure, args.pretty), flush=True)
            if receipts is not None:
                receipts.send(received.disclosure["disclosure_id"])
    finally:
        if receipts is not None:
            receipts.close()
    print(_("{opened} new, {refused} refused", opened=opened, refused=refused), file=sys.stderr)
    if reader.stopped:
        print(
            _(
                "stopped before the refused disclosures: nothing after them on their partition "
                "was read or marked as read; run consume again with the missing key (or with "
                "--skip-refused to move past them, recorded in {skipped_file})",
                skipped_file=skipped_file(settings, args.agency),
            ),
            file=sys.stderr,
        )
    return 1 if refused else 0


def _feed_reader(
    settings: Settings, args: argparse.Namespace
) -> Callable[[], list[dict[str, Any]]]:
    """Reads the whole feed, opened, without moving consume's position."""
    from streams.core.keyfiles import agency_keys
    from streams.kafka.consume import FeedReader

    private = agency_keys(_private_key_files(settings, args))
    exchange = verification_keys(settings, args.exchange_key).keys

    def read() -> list[dict[str, Any]]:
        reader = FeedReader(settings, args.agency, private, exchange)
        opened, refused = [], 0
        for received in reader.read(from_beginning=True, commit=False):
            if received.disclosure is None:
                refused += 1
            else:
                opened.append(received.disclosure)
        if refused:
            print(
                _(
                    "{refused} disclosures refused (not served); `consume` says why",
                    refused=refused,
                ),
                file=sys.stderr,
            )
        return opened

    return read


def taxii_serve(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare taxii serve --agency ID [--key FILE] [--port 6068]``: serve the agency's
    feed over TAXII 2.1 on 127.0.0.1 until interrupted."""
    from aiohttp import web

    from streams.core.keyfiles import password_file
    from streams.web.taxii import FeedCache, taxii_app

    default = settings.home / "taxii" / f"{args.agency}.password"
    path = Path(args.password_file) if args.password_file else default
    where = listening(settings, args, "intelshare taxii serve")
    password, created = password_file(path)
    read = _feed_reader(settings, args)
    hosts = [*args.allow_host, *where.names]
    app = taxii_app(FeedCache(read, ttl=args.cache), args.agency, password, hosts)
    made = "created" if created else "in"
    banner = (
        f"TAXII 2.1 on {where.url(args.port, '/taxii2/')} (user {args.agency}, password "
        f"{made} {path})"
    )
    try:  # aiohttp calls ``print`` once it listens
        web.run_app(
            app, host=where.host, port=args.port, access_log=None, ssl_context=where.context,
            print=lambda _: print(banner, flush=True),
        )  # fmt: skip
    except OSError as exc:
        raise ConfigError(
            msg(
                "cannot listen on {host}:{port}: {strerror}; choose another --port",
                host=where.host,
                port=args.port,
                strerror=exc.strerror,
            )
        ) from exc
    return 0
