"""The options of a web server's command (the oversight page, the TAXII server): where it
listens, and the certificate it serves HTTPS with (the rule is :mod:`streams.web.https`'s).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streams.i18n import _
from streams.settings import Settings
from streams.web.https import Listening, is_loopback, listening_at

__all__ = ["Listening", "add_options", "is_loopback", "listening"]


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--tls-cert`` and ``--tls-key`` of a web server's command."""
    parser.add_argument(
        "--host", default="127.0.0.1",
        help=_(
            "address to listen on (default 127.0.0.1); any other needs --tls-cert and --tls-key"
        ),
    )  # fmt: skip
    parser.add_argument(
        "--tls-cert", metavar="FILE",
        help=_("serve HTTPS with this certificate (PEM chain; default INTELSHARE_HTTPS_CERTFILE)"),
    )  # fmt: skip
    parser.add_argument(
        "--tls-key", metavar="FILE",
        help=_("its private key (default INTELSHARE_HTTPS_KEYFILE)"),
    )  # fmt: skip


def listening(settings: Settings, args: argparse.Namespace, command: str) -> Listening:
    """Where and how to listen, from ``args`` (:func:`add_options`) and the settings; a
    non-loopback address without a certificate is refused, naming ``command``'s options."""
    cert = args.tls_cert or settings.https_certfile
    key = args.tls_key or settings.https_keyfile
    return listening_at(
        args.host,
        Path(cert) if cert is not None else None,
        Path(key) if key is not None else None,
        server=f"`{command}`",
    )
