"""``intelshare certs init|issue|list``: the exchange's private CA and the certificates it
issues, in ``$INTELSHARE_HOME/certs`` (:class:`streams.core.certs.CertStore`)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from streams.cli.common import Commands, actions
from streams.core.times import format_time
from streams.i18n import _
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.core.certs import CertStore

__all__ = ["LOOPBACK", "register"]

LOOPBACK = "127.0.0.1"
"""Every node's certificate names it: the broker reaches its own controller there."""


def register(commands: Commands) -> None:
    """Declare ``intelshare certs``."""
    certs = actions(
        commands,
        "certs",
        _("the exchange's private CA and its TLS certificates ($INTELSHARE_HOME/certs)"),
        {
            "init": (_("make the CA (ca.pem, and ca.key mode 0600)"), certs_init),
            "issue": (_("a broker node's or a user's key (0600) and certificate"), certs_issue),
            "list": (_("each certificate, what it names and when it expires"), certs_list),
        },
    )
    certs["init"].add_argument(
        "--name", default="intelshare exchange CA", help=_("the CA's common name")
    )
    certs["init"].add_argument("--days", type=int, help=_("validity (default 3650)"))
    who = certs["issue"].add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--node", type=int, metavar="N", help=_("broker node N: node-N.pem, node-N.key")
    )
    who.add_argument(
        "--user", metavar="NAME",
        help=_("a user of the mutual-TLS listener: its common name NAME is its Kafka user"),
    )  # fmt: skip
    who.add_argument(
        "--server", metavar="NAME",
        help=_(
            "an HTTPS server (oversight page, TAXII): NAME.pem, NAME.key for --tls-cert/--tls-key"
        ),
    )  # fmt: skip
    certs["issue"].add_argument(
        "--host", action="append", default=[], metavar="NAME",
        help=f"a node's host name or address (repeat); {LOOPBACK} is always added",
    )  # fmt: skip
    certs["issue"].add_argument("--days", type=int, help=_("validity (default 90)"))


def certs_init(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare certs init``: prints the CA certificate's path (``INTELSHARE_SSL_CAFILE``)."""
    from streams.core.certs import CA_DAYS

    print(
        _store(settings).init(
            args.name, datetime.now(UTC), CA_DAYS if args.days is None else args.days
        )
    )
    return 0


def _store(settings: Settings) -> CertStore:
    """The certificate folder (cryptography's x509 is imported only by these commands)."""
    from streams.core.certs import CertStore

    return CertStore(settings.certs_dir)


def certs_issue(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare certs issue --node N [--host NAME ...]``, ``--server NAME [--host ...]`` or
    ``--user NAME``: prints the certificate's path, then its key's."""
    from streams.core.certs import LEAF_DAYS, Kind

    store = _store(settings)
    if args.node is not None:
        kind, name, hosts = Kind.NODE, store.node_name(args.node), [*args.host, LOOPBACK]
    elif args.server is not None:
        kind, name, hosts = Kind.NODE, args.server, [*args.host, LOOPBACK]
    else:
        kind, name, hosts = Kind.USER, args.user, list(args.host)
    print(
        store.issue(
            kind, name, hosts, datetime.now(UTC), LEAF_DAYS if args.days is None else args.days
        )
    )
    print(store.key_of(name))
    return 0


def certs_list(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare certs list``: one line per certificate: file, name, hosts, expiry."""
    now = datetime.now(UTC)
    for path, info in _store(settings).listing():
        state = "EXPIRED" if info.not_after < now else f"{(info.not_after - now).days} days left"
        role = "CA" if info.is_ca else ("node" if info.hosts else "user")
        hosts = ",".join(info.hosts) or "-"
        until = format_time(info.not_after)
        print(f"{path.name:<24} {role:<4} {info.name:<24} {hosts:<32} {until}  {state}")
    return 0
