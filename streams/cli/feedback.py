"""Feedback (see :mod:`streams.core.feedback`): ``intelshare feedback DISCLOSURE_ID --useful
yes|no [--note TEXT] --agency ID`` by an agency, ``intelshare feedback list --unit ID`` by a
unit, and ``intelshare units register --id ID --public-key FILE`` by the operators."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from streams.cli.common import (
    Commands,
    actions,
    exchange_key_option,
    key_file,
    keys_dir,
    read_text,
    verification_keys,
)
from streams.errors import FeedbackInvalidError, KeyFileError
from streams.i18n import _, localise, msg
from streams.settings import Settings

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Declare ``intelshare feedback`` and ``intelshare units register``."""
    give = commands.add_parser(
        "feedback",
        help=_("an agency's feedback on a disclosure, to the unit that wrote the report; "
        "`feedback list --unit ID`: a unit reads its feedback"),
    )  # fmt: skip
    give.add_argument("disclosure", metavar="DISCLOSURE_ID|list")
    give.add_argument("--useful", choices=("yes", "no"), help=_("was the disclosure useful"))
    give.add_argument("--note", help=_("at most 1000 characters on one line"))
    give.add_argument("--agency", metavar="ID", help=_("the agency giving the feedback"))
    give.add_argument("--unit", metavar="ID", help=_("with list: the unit reading its feedback"))
    give.add_argument(
        "--key", "--sign-key", dest="key", metavar="FILE",
        help=_("the agency's receipt key (default $INTELSHARE_HOME/keys/ID.sign.key); with "
        "list, the unit's private key (default ID.unit.key there)"),
    )  # fmt: skip
    exchange_key_option(give)
    give.set_defaults(handler=feedback)
    units = actions(
        commands,
        "units",
        _("prison intelligence units' keys"),
        {"register": (_("publish a unit's public key (creates its feedback topic)"), units_reg)},
    )
    units["register"].add_argument("--id", required=True, help=_("the unit id its reports carry"))
    units["register"].add_argument("--public-key", required=True, metavar="FILE")


def feedback(settings: Settings, args: argparse.Namespace) -> int:
    """Give feedback (exit 0 when sent, 2 for bad input), or with ``list`` print a unit's."""
    if args.disclosure == "list":
        return _list(settings, args)
    from streams.core.feedback import check_disclosure_id, check_note
    from streams.core.keyfiles import load_ed25519_private
    from streams.kafka.feedback import send_feedback

    if args.agency is None or args.useful is None:
        raise FeedbackInvalidError(msg("give --agency ID and --useful yes or no"))
    check_disclosure_id(args.disclosure)  # before any connection
    note = check_note(args.note)
    default = keys_dir(settings) / f"{args.agency}.sign.key"
    path = key_file(settings, args.key) if args.key else default
    key = load_ed25519_private(path)
    sent = send_feedback(
        settings, args.agency, args.disclosure, args.useful == "yes", note, key, datetime.now(UTC)
    )
    print(_("feedback on {disclosure_id} sent", disclosure_id=sent["disclosure_id"]))
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    """One line per feedback the unit was given: exit 1 if any message did not open."""
    from streams.core.feedback import feedback_line
    from streams.core.keyfiles import load_x25519_private
    from streams.kafka.feedback import read_feedback

    if args.unit is None:
        raise FeedbackInvalidError(msg("give --unit ID"))
    default = keys_dir(settings) / f"{args.unit}.unit.key"
    path = key_file(settings, args.key) if args.key else default
    if not path.is_file():
        raise KeyFileError(
            msg(
                "no key {path}: pass the unit's private key with --key, or generate one with "
                "`intelshare keys generate --unit {unit}`",
                path=path,
                unit=args.unit,
            )
        )
    private = load_x25519_private(path)
    exchange = verification_keys(settings, args.exchange_key).keys
    refused = 0
    for opened in read_feedback(settings, args.unit, private, exchange):
        if opened.payload is None:
            refused += 1
            problem = localise(opened.problem) if opened.problem is not None else ""
            print(
                _("refused offset {offset}: {problem}", offset=opened.offset, problem=problem),
                file=sys.stderr,
            )
            continue
        print(feedback_line(opened.payload), flush=True)
    return 1 if refused else 0


def units_reg(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare units register --id ID --public-key FILE``."""
    from streams.core.crypto import parse_x25519_public
    from streams.core.feedback import unit_key_record
    from streams.kafka.feedback import register_unit_key

    public_file: Path = key_file(settings, args.public_key)
    public = parse_x25519_public(read_text(str(public_file)).strip()).public_bytes_raw()
    record = unit_key_record(args.id, public, datetime.now(UTC))
    topic = register_unit_key(settings, record)
    print(_("registered unit {unit}; its feedback topic is {topic}", unit=args.id, topic=topic))
    return 0
