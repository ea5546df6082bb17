"""The operators' register of partner agencies: ``intelshare agencies register`` and ``list``.

An agency's record on the compacted ``intel.ref.agencies`` topic names the key every disclosure
to it is encrypted to, so it is never overwritten by accident: registering the same details
again changes nothing, and different details (a new key after ``keys rotate``, a new name) are
published only with ``--replace``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from streams.cli.common import Commands, actions, key_file, read_text
from streams.cli.tables import AGENCY_COLUMNS, agency_json, agency_row, table
from streams.core.times import format_time
from streams.errors import AgencyConflictError
from streams.i18n import _, msg
from streams.settings import Settings
from streams.topics import Topics

if TYPE_CHECKING:
    from streams.core.reference import ReferenceRecord

__all__ = ["load_agencies", "register"]


def register(commands: Commands) -> None:
    """Declare ``intelshare agencies register|list``."""
    agencies = actions(
        commands,
        "agencies",
        _("partner agencies"),
        {
            "register": (_("publish an agency's key (creates its feed)"), agencies_register),
            "list": (_("one line per registered agency"), agencies_list),
        },
    )
    add = agencies["register"]
    add.add_argument("--id", required=True, help=_("the agency id; its feed is intel.feed.ID"))
    add.add_argument("--name", required=True, help=_("its official name"))
    add.add_argument("--public-key", required=True, metavar="FILE")
    add.add_argument(
        "--country", default=None, metavar="CC",
        help=_("ISO 3166-1 alpha-2 code, e.g. KZ; leave out for an international body"),
    )  # fmt: skip
    add.add_argument(
        "--signing-key", metavar="FILE", help=_("receipt key; default ID.sign.pub beside the key")
    )
    add.add_argument(
        "--replace", action="store_true",
        help=_("overwrite the agency's record when its details differ (a new key after "
        "`keys rotate`, a new name or country); without it that is refused"),
    )  # fmt: skip
    agencies["list"].add_argument(
        "--json", action="store_true", help=_("one JSON object per agency instead of a table")
    )


def agencies_register(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agencies register --id ID --name NAME --public-key FILE [--country CC]
    [--replace]``: exit 0 when registered, replaced or unchanged; 1 when it differs from the
    registered record and ``--replace`` is not given; 2 for a malformed option."""
    from streams.core.crypto import parse_x25519_public
    from streams.core.reference import agency_changes, agency_details
    from streams.kafka.auditlog import agencies as registered_agencies
    from streams.kafka.registry import agency_record, register_agency

    ident, name, country = agency_details(args.id, args.name, args.country)
    public_file = key_file(settings, args.public_key)
    public = parse_x25519_public(read_text(str(public_file)).strip()).public_bytes_raw()
    receipt = _receipt_key(settings, args, public_file)
    record = agency_record(ident, name, country, public, receipt, datetime.now(UTC))
    current = registered_agencies(settings).get(ident)
    changes = agency_changes(current, record) if current is not None else []
    if current is not None and not changes:
        since = format_time(current["registered_at"])
        feed = Topics(settings.topic_prefix).feed(ident)
        print(
            _(
                "unchanged {ident} key {key_id} (registered {since}); feed {feed}",
                ident=ident,
                key_id=record["key_id"],
                since=since,
                feed=feed,
            )
        )
        return 0
    if changes and not args.replace:
        raise AgencyConflictError(
            msg(
                "agency {ident} is already registered with other details ({changes}); nothing was "
                "changed: run again with --replace to overwrite it (as after `intelshare keys "
                "rotate --agency {ident}`), or check --id",
                ident=ident,
                changes="; ".join(changes),
            )
        )
    feed = register_agency(settings, record)
    shown = {"ident": ident, "key_id": record["key_id"], "feed": feed}
    done = (
        _("replaced {ident} key {key_id}; feed {feed}", **shown)
        if changes
        else _("registered {ident} key {key_id}; feed {feed}", **shown)
    )
    print(done)
    for change in changes:
        print(f"  {change}")
    return 0


def _receipt_key(settings: Settings, args: argparse.Namespace, public_file: Path) -> bytes:
    """The agency's raw Ed25519 receipt key: ``--signing-key``, or ``ID.sign.pub`` beside
    its public key when there is one; empty when the agency sends no receipts."""
    from streams.core.crypto import parse_ed25519_public

    path = key_file(settings, args.signing_key) if args.signing_key else None
    if path is None:
        beside = public_file.with_name(f"{args.id}.sign.pub")
        path = beside if beside.is_file() else None
    if path is None:
        return b""
    return parse_ed25519_public(read_text(str(path)).strip()).public_bytes_raw()


def agencies_list(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agencies list [--json]``: a table (or JSON lines) sorted by agency id;
    "no agencies registered" on stderr, and exit 0, when there are none."""
    from streams.kafka.auditlog import agencies as registered_agencies

    found = sorted(registered_agencies(settings).values(), key=lambda a: str(a["agency_id"]))
    if not found:
        print(_("no agencies registered: `intelshare agencies register` adds one"), file=sys.stderr)
        return 0
    if args.json:
        for agency in found:
            print(json.dumps(agency_json(agency), ensure_ascii=False))
    else:
        for line in table(AGENCY_COLUMNS, (agency_row(a) for a in found)):
            print(line)
    return 0


def load_agencies(settings: Settings, lines: Iterable[ReferenceRecord], *, replace: bool) -> int:
    """The agency lines of ``reference load``, treated as ``agencies register`` treats one:
    each gets its feed, the same details again change nothing, and different ones (a new key)
    are refused unless ``replace``; returns how many were refused (each said on stderr)."""
    from streams.core.reference import agency_changes
    from streams.kafka.auditlog import agencies as registered_agencies
    from streams.kafka.registry import register_agency

    current = registered_agencies(settings)
    published = refused = 0
    for line in lines:
        ident, record = line.key, line.record
        old = current.get(ident)
        changes = agency_changes(old, record) if old is not None else []
        if old is not None and not changes:
            print(
                _("unchanged agency {ident} key {key_id}", ident=ident, key_id=record["key_id"]),
                file=sys.stderr,
            )
            continue
        if changes and not replace:
            print(
                _(
                    "rejected agency {ident}: already registered with other details ({changes}); "
                    "nothing was changed for it: load again with --replace to overwrite it (as "
                    "after a key rotation), or check agency_id",
                    ident=ident,
                    changes="; ".join(changes),
                ),
                file=sys.stderr,
            )
            refused += 1
            continue
        feed = register_agency(settings, record)
        current[ident] = record
        published += 1
        shown = {"ident": ident, "key_id": record["key_id"], "feed": feed}
        done = (
            _("replaced agency {ident} key {key_id}; feed {feed}", **shown)
            if changes
            else _("registered agency {ident} key {key_id}; feed {feed}", **shown)
        )
        print(done, file=sys.stderr)
    if published:
        print(f"{Topics(settings.topic_prefix).agencies}\t{published}")
    return refused
