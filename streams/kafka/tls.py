"""TLS towards the broker: the client's context, checked before any connection, and the
diagnosis of a failed handshake, in words that name the setting to fix.

Kafka clients retry a failed handshake until they time out and then only say that no broker
answered. :func:`diagnose` tries one handshake itself with the same files (a TLS handshake
only: not a byte of Kafka is sent) and turns what the TLS library saw into a
:class:`TLSHandshakeError`: a certificate of another CA, one expired, one for another host
name, a broker that refused this client's certificate, or TLS on one side only.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from streams.errors import CertificateError, ConfigError, IntelshareError, TLSHandshakeError
from streams.i18n import msg
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.core.certs import CertInfo

__all__ = ["client_context", "diagnose", "user_of", "uses_tls"]

_HOSTNAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_EXPIRED = {10}  # X509_V_ERR_CERT_HAS_EXPIRED
_NOT_YET_VALID = {9}  # X509_V_ERR_CERT_NOT_YET_VALID


def uses_tls(settings: Settings) -> bool:
    """Whether the clients of ``settings`` speak TLS to the broker."""
    return settings.security_protocol in {"SASL_SSL", "SSL"}


def user_of(settings: Settings) -> str:
    """The Kafka user of ``settings``: the SASL user, or the common name of the client
    certificate (``SSL``), as the broker's principal mapping makes it."""
    if settings.security_protocol == "SSL" and settings.ssl_certfile is not None:
        with contextlib.suppress(OSError, IntelshareError):
            return _read_cert(settings.ssl_certfile).name
    return settings.sasl_username


def client_context(settings: Settings, now: datetime | None = None) -> ssl.SSLContext:
    """The TLS context of every kafka-python client: TLS 1.2 or newer, the broker's certificate
    verified against ``INTELSHARE_SSL_CAFILE`` and its host name checked; with a client
    certificate, that certificate, refused here already if it is not valid at ``now``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    cafile = settings.ssl_cafile
    try:
        context.load_verify_locations(cafile=str(cafile))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            msg(
                "INTELSHARE_SSL_CAFILE {cafile} cannot be read as a PEM CA certificate ({exc}); "
                "set it to the exchange's ca.pem",
                cafile=cafile,
                exc=exc,
            )
        ) from exc
    certfile, keyfile = settings.ssl_certfile, settings.ssl_keyfile
    if certfile is not None:
        _check_validity(certfile, _read_cert(certfile), now or datetime.now(UTC))
        try:
            context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                msg(
                    "INTELSHARE_SSL_CERTFILE {certfile} and INTELSHARE_SSL_KEYFILE {keyfile} "
                    "cannot be used together ({exc}); give a certificate and the key it was "
                    "issued with",
                    certfile=certfile,
                    keyfile=keyfile,
                    exc=exc,
                )
            ) from exc
    return context


def _read_cert(path: Path) -> CertInfo:
    from streams.core.certs import describe  # cryptography.x509: only with a client certificate

    try:
        return describe(path.read_bytes())
    except OSError as exc:
        raise ConfigError(
            msg(
                "cannot read INTELSHARE_SSL_CERTFILE {path}: {strerror}",
                path=path,
                strerror=exc.strerror,
            )
        ) from exc
    except CertificateError as exc:
        raise ConfigError(msg("INTELSHARE_SSL_CERTFILE {path}: {exc}", path=path, exc=exc)) from exc


def _check_validity(path: Path, info: CertInfo, now: datetime) -> None:
    """Refuse an expired or not yet valid client certificate before the broker does."""
    if now > info.not_after:
        raise TLSHandshakeError(
            msg(
                "the client certificate INTELSHARE_SSL_CERTFILE {path} ({name}) expired on "
                "{not_after:%Y-%m-%d %H:%M} UTC and the broker would refuse it; nothing was sent. "
                "Ask the exchange's operator for a new one (`intelshare certs issue --user "
                "{name}`)",
                path=path,
                name=info.name,
                not_after=info.not_after,
            )
        )
    if now < info.not_before:
        raise TLSHandshakeError(
            msg(
                "the client certificate INTELSHARE_SSL_CERTFILE {path} is valid only from "
                "{not_before:%Y-%m-%d %H:%M} UTC; check this machine's clock",
                path=path,
                not_before=info.not_before,
            )
        )


def _first_server(settings: Settings) -> tuple[str, int]:
    host, _, port = settings.bootstrap_servers.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


def diagnose(settings: Settings, timeout: float = 3.0) -> IntelshareError | None:
    """Why a connection to the first bootstrap server failed, if TLS is the reason: one
    handshake with ``settings``' files (or, for a plaintext client, a test whether the port
    speaks TLS). None when the handshake passes or nothing answers at all."""
    try:
        host, port = _first_server(settings)
    except ValueError:
        return None
    try:
        if uses_tls(settings):
            return _tls_problem(settings, host, port, timeout)
        return _plaintext_problem(settings, host, port, timeout)
    except OSError:  # refused, unreachable, timed out: not a TLS problem
        return None


def _tls_problem(
    settings: Settings, host: str, port: int, timeout: float
) -> IntelshareError | None:
    where = f"{host}:{port}"
    context = client_context(settings)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                return _refused_after_handshake(settings, tls, where)
        except ssl.SSLCertVerificationError as exc:
            return _verification_problem(settings, exc, host, port, timeout)
        except ssl.SSLError as exc:
            return TLSHandshakeError(
                msg(
                    "the server at {where} does not complete a TLS handshake ({reason}): it is "
                    "not a TLS listener of the broker; check KAFKA_BOOTSTRAP_SERVERS (the "
                    "broker's TLS port) and INTELSHARE_SECURITY_PROTOCOL",
                    where=where,
                    reason=exc.reason,
                )
            )


def _refused_after_handshake(
    settings: Settings, tls: ssl.SSLSocket, where: str
) -> IntelshareError | None:
    """With TLS 1.3 the broker checks the client's certificate after the handshake: its alert
    arrives on the first read."""
    tls.settimeout(0.5)
    try:
        tls.recv(1)
    except ssl.SSLError as exc:
        return TLSHandshakeError(
            msg(
                "the broker at {where} refused this client's certificate ({reason}): "
                "INTELSHARE_SSL_CERTFILE {ssl_certfile} must be a current certificate issued by "
                "the exchange's CA (`intelshare certs issue --user NAME`)",
                where=where,
                reason=exc.reason,
                ssl_certfile=settings.ssl_certfile,
            )
        )
    except OSError:  # the broker waits for a request: the handshake was accepted
        return None
    return None


def _verification_problem(
    settings: Settings, exc: ssl.SSLCertVerificationError, host: str, port: int, timeout: float
) -> TLSHandshakeError:
    where, cafile = f"{host}:{port}", settings.ssl_cafile
    code = exc.verify_code
    if code in _HOSTNAME_MISMATCH:
        names = ", ".join(_server_certificate(host, port, timeout).hosts) or "none"
        return TLSHandshakeError(
            msg(
                "the broker's certificate at {where} is not valid for the name {host} (it names: "
                "{names}); connect by one of those names (KAFKA_BOOTSTRAP_SERVERS, "
                "INTELSHARE_BROKER_HOST), or have the operator issue it for {host} (`intelshare "
                "certs issue --node N --host {host}`)",
                where=where,
                host=host,
                names=names,
            )
        )
    if code in _EXPIRED | _NOT_YET_VALID:
        info = _server_certificate(host, port, timeout)
        node = info.name.removeprefix("node-") if re.fullmatch(r"node-\d+", info.name) else "N"
        hosts = " ".join(f"--host {name}" for name in info.hosts) or f"--host {host}"
        shown = {"where": where, "name": info.name, "node": node, "hosts": hosts}
        if code in _EXPIRED:
            return TLSHandshakeError(
                msg(
                    "the broker's certificate at {where} ({name}) expired on {when:%Y-%m-%d %H:%M} "
                    "UTC: not a setting of this client. The exchange's operator must issue a new "
                    "one (`intelshare certs issue --node {node} {hosts}`) and restart the broker",
                    when=info.not_after,
                    **shown,
                )
            )
        return TLSHandshakeError(
            msg(
                "the broker's certificate at {where} ({name}) is valid only from "
                "{when:%Y-%m-%d %H:%M} UTC: not a setting of this client. The exchange's operator "
                "must issue a new one (`intelshare certs issue --node {node} {hosts}`) and restart "
                "the broker",
                when=info.not_before,
                **shown,
            )
        )
    return TLSHandshakeError(
        msg(
            "the broker's certificate at {where} is not trusted: {verify_message}; "
            "INTELSHARE_SSL_CAFILE ({cafile}) must be the CA certificate that signed it (the "
            "exchange's ca.pem)",
            where=where,
            verify_message=exc.verify_message,
            cafile=cafile,
        )
    )


def _server_certificate(host: str, port: int, timeout: float) -> CertInfo:
    """The broker's certificate, read without verifying it, to name what is wrong with it."""
    from streams.core.certs import describe

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return describe(ssl.DER_cert_to_PEM_cert(der or b"").encode())


def _plaintext_problem(
    settings: Settings, host: str, port: int, timeout: float
) -> TLSHandshakeError | None:
    """A plaintext client at a TLS port: the port answers a TLS handshake."""
    try:
        _server_certificate(host, port, min(timeout, 2.0))
    except (ssl.SSLError, CertificateError):
        return None
    return TLSHandshakeError(
        msg(
            "the broker at {host}:{port} speaks TLS on this port, and this client "
            "(INTELSHARE_SECURITY_PROTOCOL={security_protocol}) does not; set "
            "INTELSHARE_SECURITY_PROTOCOL=SASL_SSL (or SSL with a client certificate) and "
            "INTELSHARE_SSL_CAFILE to the exchange's ca.pem",
            host=host,
            port=port,
            security_protocol=settings.security_protocol,
        )
    )
