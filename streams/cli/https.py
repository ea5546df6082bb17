"""HTTPS for intelshare's web servers (the oversight page, the TAXII server): where they
listen, and the TLS context they serve with.

On 127.0.0.1 (the default) a server may speak plain HTTP: nothing leaves the machine. On any
other address it must serve HTTPS, from a certificate and key such as ``intelshare certs issue
--server NAME --host NAME`` writes; without them it refuses to start.
"""

from __future__ import annotations

import argparse
import ipaddress
import ssl
from pathlib import Path
from typing import NamedTuple

from streams.errors import ConfigError
from streams.settings import Settings

__all__ = ["Listening", "add_options", "is_loopback", "listening"]


class Listening(NamedTuple):
    """Where a web server listens and how."""

    host: str
    """The address it binds."""
    context: ssl.SSLContext | None
    """Its TLS context, or None for plain HTTP on loopback."""
    names: tuple[str, ...]
    """Host names it answers to besides the local ones (``--host`` when it is a name)."""

    def url(self, port: int, path: str = "/") -> str:
        """The address to open in a browser."""
        scheme = "https" if self.context else "http"
        return f"{scheme}://{self.host}:{port}{path}"


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--tls-cert`` and ``--tls-key`` of a web server's command."""
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); any other needs --tls-cert and --tls-key",
    )  # fmt: skip
    parser.add_argument(
        "--tls-cert", metavar="FILE",
        help="serve HTTPS with this certificate (PEM chain; default INTELSHARE_HTTPS_CERTFILE)",
    )  # fmt: skip
    parser.add_argument(
        "--tls-key", metavar="FILE",
        help="its private key (default INTELSHARE_HTTPS_KEYFILE)",
    )  # fmt: skip


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening(settings: Settings, args: argparse.Namespace, command: str) -> Listening:
    """Where and how to listen, from ``args`` (:func:`add_options`) and the settings; a
    non-loopback address without a certificate is refused, naming ``command``'s options."""
    cert = args.tls_cert or settings.https_certfile
    key = args.tls_key or settings.https_keyfile
    host = args.host
    names = () if is_loopback(host) or host in {"0.0.0.0", "::"} else (host,)  # noqa: S104
    if cert is None and key is None:
        if not is_loopback(host):
            raise ConfigError(
                f"`{command}` will not serve plain HTTP on {host}: anyone on the network could "
                "read it. Give --tls-cert and --tls-key (e.g. from `intelshare certs issue "
                f"--server NAME --host {names[0] if names else 'THIS_HOST_NAME'}`), or listen on "
                "127.0.0.1"
            )
        return Listening(host, None, names)
    if cert is None or key is None:
        raise ConfigError("HTTPS needs both --tls-cert and --tls-key")
    return Listening(host, _server_context(Path(cert), Path(key)), names)


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"--tls-cert {cert} and --tls-key {key} cannot be used together ({exc}); give a "
            "PEM certificate and the key it was issued with"
        ) from exc
    return context
