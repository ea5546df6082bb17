"""Commands of a partner agency: ``intelshare consume``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams.cli.common import Commands, keys_dir, verification_keys
from streams.core.keyfiles import agency_keys, load_ed25519_private
from streams.errors import KeyFileError
from streams.kafka.consume import FeedReader, ReceiptSender, skipped_file
from streams.settings import Settings

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Declare the agency's commands."""
    consume = commands.add_parser("consume", help="read, verify and decrypt an agency's feed")
    consume.add_argument("--agency", required=True, metavar="ID")
    consume.add_argument(
        "--key", action="append", metavar="FILE",
        help="the agency's private key; repeat with keys from before a rotation (default: "
        "ID.key and every rotated ID.<key id>.key in $INTELSHARE_HOME/keys)",
    )  # fmt: skip
    consume.add_argument(
        "--exchange-key", action="append", metavar="FILE",
        help="exchange public key(s); default every exchange*.pub in $INTELSHARE_HOME/keys",
    )  # fmt: skip
    consume.add_argument("--follow", action="store_true", help="wait for new disclosures")
    consume.add_argument(
        "--sign-key", metavar="FILE", help="receipt key; default $INTELSHARE_HOME/keys/ID.sign.key"
    )
    consume.add_argument("--from-beginning", action="store_true", help="reread the whole feed")
    consume.add_argument("--pretty", action="store_true", help="indented JSON, one per block")
    consume.add_argument(
        "--skip-refused", action="store_true",
        help="move past disclosures that cannot be opened (each is recorded in "
        "$INTELSHARE_HOME/skipped/ID.jsonl); without it, consume stops at the first and "
        "resumes from it next time",
    )  # fmt: skip
    consume.set_defaults(handler=consume_feed)


def _private_key_files(settings: Settings, args: argparse.Namespace) -> list[Path]:
    if args.key:
        return [Path(k) for k in args.key]
    folder = keys_dir(settings)
    current = folder / f"{args.agency}.key"
    rotated = [
        p for p in sorted(folder.glob(f"{args.agency}.*.key")) if not p.name.endswith(".sign.key")
    ]
    found = ([current] if current.is_file() else []) + rotated
    if not found:
        raise KeyFileError(
            f"no key {current}: pass the agency's private key with --key, or generate one with "
            f"`intelshare keys generate --agency {args.agency}`"
        )
    return found


def _receipts(settings: Settings, args: argparse.Namespace) -> ReceiptSender | None:
    default = keys_dir(settings) / f"{args.agency}.sign.key"
    path = Path(args.sign_key) if args.sign_key else (default if default.is_file() else None)
    if path is None:
        print("no receipt key: consultation receipts are not sent", file=sys.stderr)
        return None
    return ReceiptSender(settings, args.agency, load_ed25519_private(path))


def consume_feed(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare consume --agency ID [--key FILE]... [--follow] [--from-beginning]``."""
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
                where = f"partition {received.partition} offset {received.offset}"
                word = "skipped" if args.skip_refused else "refused"
                print(f"{word} {where}: {received.problem}", file=sys.stderr)
                continue
            opened += 1
            indent = 2 if args.pretty else None
            print(json.dumps(received.disclosure, ensure_ascii=False, indent=indent), flush=True)
            if receipts is not None:
                receipts.send(received.disclosure["disclosure_id"])
    finally:
        if receipts is not None:
            receipts.close()
    print(f"{opened} new, {refused} refused", file=sys.stderr)
    if reader.stopped:
        print(
            "stopped before the refused disclosures: nothing after them on their partition was "
            "read or marked as read; run consume again with the missing key (or with "
            "--skip-refused to move past them, recorded in "
            f"{skipped_file(settings, args.agency)})",
            file=sys.stderr,
        )
    return 1 if refused else 0
