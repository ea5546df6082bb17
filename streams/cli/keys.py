"""The operators' key commands: ``intelshare keys generate``, ``rotate`` and ``export-link``.

Private keys are written mode 0600 by :mod:`streams.core.keyfiles`; these handlers choose the
folder, check the names and say what to do with each file.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from streams.cli.common import Commands, actions, keys_dir
from streams.core.fields import AGENCY_ID, AGENCY_RULE
from streams.errors import ConfigError
from streams.i18n import _, msg
from streams.settings import Settings
from streams.topics import feed_topic

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Declare ``intelshare keys generate|rotate|export-link``."""
    keys = actions(
        commands,
        "keys",
        _("key pairs"),
        {
            "generate": (_("write a key pair (private key mode 0600)"), keys_generate),
            "rotate": (
                _("keep the current pair under its key id and write a new one"),
                keys_generate,
            ),
            "export-link": (_("write the oversight link key for the oversight body"), export_link),
        },
    )
    for action in ("generate", "rotate"):
        who = keys[action].add_mutually_exclusive_group(required=True)
        who.add_argument("--agency", metavar="ID", help=_("an X25519 pair for a partner agency"))
        who.add_argument("--exchange", action="store_true", help=_("the exchange's signing key"))
        if action == "generate":
            who.add_argument(
                "--unit", metavar="ID",
                help=_("a unit's X25519 pair for its feedback: ID.unit.key (0600), ID.unit.pub"),
            )  # fmt: skip
            who.add_argument(
                "--witness", metavar="NAME",
                help=_("a witness's Ed25519 pair: NAME.witness.key (0600) and NAME.witness.pub"),
            )  # fmt: skip
    for parser in keys.values():
        parser.add_argument("--out", metavar="DIR", help=_("default $INTELSHARE_HOME/keys"))


def keys_generate(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare keys generate|rotate --agency ID | --exchange [--out DIR]``."""
    from streams.core.keyfiles import (
        generate_agency_keys,
        generate_exchange_keys,
        generate_signing_key,
        rotate_agency_keys,
        rotate_exchange_key,
    )

    folder = Path(args.out) if args.out else keys_dir(settings)
    if getattr(args, "witness", None) is not None:
        return _witness_keys(folder, args.witness)
    if getattr(args, "unit", None) is not None:
        return _unit_keys(folder, args.unit)
    if not args.exchange:
        feed_topic(args.agency)  # refuses an id that could not name a feed
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if args.action == "rotate":
        if args.exchange:
            private, public, old = rotate_exchange_key(folder, datetime.now(UTC))
        else:
            private, public, old = rotate_agency_keys(folder, args.agency)
        print(
            _("previous key kept as {old} (still needed to read or verify older records)", old=old)
        )
        if args.exchange:
            print(
                _(
                    "now restart the worker, and give the new exchange.pub to the agencies and\n"
                    "oversight bodies (with the old one and its .retired file)"
                )
            )
        else:
            print(_("now register the new public key with the exchange's operators:"))
            print(
                _(
                    "intelshare agencies register --id {agency} --name NAME --public-key {public} "
                    "--replace",
                    agency=args.agency,
                    public=public,
                )
            )
    elif args.exchange:
        private, public = generate_exchange_keys(folder)
    else:
        private, public = generate_agency_keys(folder, args.agency)
        signing, _public = generate_signing_key(folder, f"{args.agency}.sign")
        print(_("receipt key: {signing} (mode 0600; signs consultation receipts)", signing=signing))
    print(_("private key: {private} (mode 0600, keep it secret)", private=private))
    print(_("public key:  {public}", public=public))
    return 0


def _witness_keys(folder: Path, name: str) -> int:
    """``keys generate --witness NAME``: an Ed25519 pair for a witness of the audit log."""
    from streams.core.keyfiles import generate_signing_key

    if not AGENCY_ID.fullmatch(name):  # the name becomes a file name and the cosigner's name
        raise ConfigError(msg("witness name {name!r} must be {rule}", name=name, rule=AGENCY_RULE))
    if name.startswith("exchange"):  # exchange*.pub in the keys folder are the exchange's keys
        raise ConfigError(msg("witness name {name!r} must not start with 'exchange'", name=name))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = generate_signing_key(folder, f"{name}.witness")
    print(
        _(
            "private key: {private} (mode 0600, keep it secret; `intelshare witness run` uses it)",
            private=private,
        )
    )
    print(
        _(
            "public key:  {public} (give it to whoever checks cosignatures: --witness-key)",
            public=public,
        )
    )
    return 0


def _unit_keys(folder: Path, unit_id: str) -> int:
    """``keys generate --unit ID``: the X25519 pair a unit's feedback is encrypted to."""
    from streams.core.feedback import generate_unit_keys

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = generate_unit_keys(folder, unit_id)
    print(_("private key: {private} (mode 0600, keep it secret)", private=private))
    print(
        _(
            "public key:  {public} (give it to the exchange's operators: "
            "`intelshare units register --id {unit} --public-key {public}`)",
            public=public,
            unit=unit_id,
        )
    )
    return 0


def export_link(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare keys export-link [--out DIR]``: the oversight body's link key (0600)."""
    from streams.core.keyfiles import export_link_key

    out = Path(args.out) if args.out else keys_dir(settings)
    path = export_link_key(keys_dir(settings), out)
    print(_("oversight link key: {path} (mode 0600)", path=path))
    print(
        _(
            "give it to the oversight body with exchange.pub: with it, `audit query --subject ID`\n"
            "finds every disclosure about that person under any pseudonym; keep it from agencies"
        )
    )
    return 0
