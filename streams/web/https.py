"""HTTPS for intelshare's web servers (the oversight page, the TAXII server, the worker's
status page and metrics): where they may listen, and the TLS context they serve with.

On 127.0.0.1 (the default) a server may speak plain HTTP: nothing leaves the machine. On any
other address it must serve HTTPS, from a certificate and key such as ``intelshare certs issue
--server NAME --host NAME`` writes; without them it refuses to start.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import NamedTuple

from streams.errors import ConfigError
from streams.i18n import msg

__all__ = ["Listening", "is_loopback", "listening_at"]


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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_at(
    host: str,
    cert: Path | None,
    key: Path | None,
    *,
    server: str,
    options: tuple[str, str] = ("--tls-cert", "--tls-key"),
    plain_hint: str | None = None,
) -> Listening:
    """How ``server`` listens on ``host`` with certificate ``cert`` and ``key`` (both or
    neither): a non-loopback address without them is refused, naming ``options`` (the two
    settings that give them) and ``plain_hint`` (what else the user may do)."""
    names = () if is_loopback(host) or host in {"0.0.0.0", "::"} else (host,)  # noqa: S104
    cert_option, key_option = options
    if cert is None and key is None:
        if not is_loopback(host):
            raise ConfigError(
                msg(
                    "{server} will not serve plain HTTP on {host}: anyone on the network could "
                    "read it. Give {cert_option} and {key_option} (e.g. from `intelshare certs "
                    "issue --server NAME --host {names}`), or {plain_hint}",
                    server=server,
                    host=host,
                    cert_option=cert_option,
                    key_option=key_option,
                    names=names[0] if names else "THIS_HOST_NAME",
                    # a Message, so it is translated with the sentence
                    plain_hint=plain_hint or msg("listen on 127.0.0.1"),
                )
            )
        return Listening(host, None, names)
    if cert is None or key is None:
        raise ConfigError(
            msg(
                "HTTPS needs both {cert_option} and {key_option}",
                cert_option=cert_option,
                key_option=key_option,
            )
        )
    return Listening(host, server_context(cert, key, options), names)


def server_context(
    cert: Path, key: Path, options: tuple[str, str] = ("--tls-cert", "--tls-key")
) -> ssl.SSLContext:
    """A server's TLS context (TLS 1.2 or newer) from ``cert`` and ``key``, named in errors
    by ``options``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            msg(
                "{options} {cert} and {options2} {key} cannot be used together ({exc}); give a "
                "PEM certificate and the key it was issued with",
                options=options[0],
                cert=cert,
                options2=options[1],
                key=key,
                exc=exc,
            )
        ) from exc
    return context
