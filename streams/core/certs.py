"""The exchange's private certificate authority: its certificates for brokers and users.

Pure certificate logic on the ``cryptography`` package, with nothing of Kafka: a CA
(:func:`make_ca`), a certificate it issues for a broker node or a user (:func:`issue`), what a
certificate says (:func:`describe`), and the folder they are kept in (:class:`CertStore`). The
time is a parameter, so validity windows are tested without waiting.

Keys are ECDSA P-256 in unencrypted PKCS#8 PEM, which Kafka (``ssl.keystore.type=PEM``),
librdkafka and Python's ``ssl`` all read; every key file is written mode 0600. A broker's
certificate names its host names and addresses as subject alternative names (clients verify
them); a user's certificate has the user's name as its common name, which the broker maps to
its Kafka principal (``ssl.principal.mapping.rules``), so the user's ACLs apply to it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from streams.core.keyfiles import write_private
from streams.errors import CertificateError
from streams.i18n import msg

__all__ = [
    "CA_DAYS",
    "LEAF_DAYS",
    "CertInfo",
    "CertStore",
    "Issued",
    "Kind",
    "describe",
    "issue",
    "make_ca",
]

CA_DAYS = 3650
"""The CA's validity: it signs every certificate of the exchange and is replaced rarely."""
LEAF_DAYS = 90
"""A broker's or user's certificate's validity by default: short, so a lost one expires soon."""
_BACKDATE = timedelta(minutes=5)
"""Certificates are valid from a little before ``now``, for clocks a few minutes apart."""


class Kind(Enum):
    """What a certificate is for: its extended key usage."""

    NODE = "node"
    """A broker node: serves TLS and connects to the other nodes (server and client auth)."""
    USER = "user"
    """A user of the exchange: client authentication only."""


class Issued(NamedTuple):
    """A new key and its certificate, both PEM."""

    key_pem: bytes
    """The private key (PKCS#8, unencrypted): write it mode 0600."""
    cert_pem: bytes
    """The certificate."""


class CertInfo(NamedTuple):
    """What a certificate says, for ``intelshare certs list``."""

    name: str
    """Its subject's common name."""
    hosts: tuple[str, ...]
    """The host names and addresses it is valid for (empty for a user)."""
    not_before: datetime
    """Valid from (UTC)."""
    not_after: datetime
    """Valid until (UTC)."""
    issuer: str
    """The issuer's common name."""
    is_ca: bool
    """It may sign certificates."""


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(name: str, now: datetime, days: int = CA_DAYS) -> Issued:
    """A self-signed CA named ``name``, valid ``days`` from ``now``."""
    key = _new_key()
    subject = _name(name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _alternative_name(host: str) -> x509.GeneralName:
    """An IP address entry for an address, a DNS entry for a name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue(
    ca: Issued,
    kind: Kind,
    common_name: str,
    hosts: Sequence[str],
    now: datetime,
    days: int = LEAF_DAYS,
) -> Issued:
    """A key and a certificate for ``common_name`` signed by ``ca``, valid ``days`` from
    ``now``; a node's lists ``hosts`` as subject alternative names."""
    if days <= 0:
        raise CertificateError(msg("--days {days}: give a positive number of days", days=days))
    if kind is Kind.NODE and not hosts:
        raise CertificateError(msg("a node's certificate needs at least one --host"))
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateError(
            msg("the CA key is not an ECDSA key; run `intelshare certs init` anew")
        )
    key = _new_key()
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if kind is Kind.NODE:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        names = [_alternative_name(host) for host in dict.fromkeys(hosts)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def describe(cert_pem: bytes) -> CertInfo:
    """What the first certificate of ``cert_pem`` says."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertificateError(msg("not a PEM certificate ({exc})", exc=exc)) from exc
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = tuple(str(n.value) for n in names if isinstance(n, x509.DNSName | x509.IPAddress))
    except x509.ExtensionNotFound:
        hosts = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(
        _common_name(cert.subject), hosts, cert.not_valid_before_utc, cert.not_valid_after_utc,
        _common_name(cert.issuer), is_ca,
    )  # fmt: skip


def _common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()


class CertStore:
    """The folder of the CA and the certificates it issued (``$INTELSHARE_HOME/certs``):
    ``ca.pem`` and ``ca.key``, ``node-N.pem``/``.key`` per broker node, ``NAME.pem``/``.key``
    per user. A certificate file holds the certificate, then the CA's (the chain a peer needs).
    Keys are mode 0600. The CA is never overwritten; issuing for a name again writes it a new
    key and certificate (a renewal)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def ca_cert(self) -> Path:
        """The CA's certificate: give it to every client as ``INTELSHARE_SSL_CAFILE``."""
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The CA's private key: stays on the machine that issues certificates."""
        return self.folder / "ca.key"

    @staticmethod
    def node_name(node: int) -> str:
        """The file name (and common name) of broker node ``node``."""
        return f"node-{node}"

    def cert_of(self, name: str) -> Path:
        """The certificate file of ``name`` (a user, or ``node-N``)."""
        return self.folder / f"{name}.pem"

    def key_of(self, name: str) -> Path:
        """The private key file of ``name``."""
        return self.folder / f"{name}.key"

    def init(self, name: str, now: datetime, days: int = CA_DAYS) -> Path:
        """Make the CA unless it exists; its certificate's path."""
        if self.ca_key.exists() or self.ca_cert.exists():
            raise CertificateError(
                msg(
                    "a CA exists already in {folder}; keep it (every certificate was issued by "
                    "it), or move the folder away to start a new one",
                    folder=self.folder,
                )
            )
        made = make_ca(name, now, days)
        write_private(self.ca_key, made.key_pem)
        self.ca_cert.write_bytes(made.cert_pem)
        return self.ca_cert

    def ca(self) -> Issued:
        """The CA's key and certificate, to issue with."""
        try:
            return Issued(self.ca_key.read_bytes(), self.ca_cert.read_bytes())
        except FileNotFoundError as exc:
            raise CertificateError(
                msg("no CA in {folder}: run `intelshare certs init` first", folder=self.folder)
            ) from exc
        except OSError as exc:
            raise CertificateError(
                msg(
                    "cannot read the CA in {folder}: {strerror}",
                    folder=self.folder,
                    strerror=exc.strerror,
                )
            ) from exc

    def issue(
        self, kind: Kind, name: str, hosts: Sequence[str], now: datetime, days: int = LEAF_DAYS
    ) -> Path:
        """Issue ``name``'s certificate (a new key every time); its certificate's path."""
        if not name or "/" in name or name.startswith(".") or name in {"ca"}:
            raise CertificateError(
                msg("{name!r} cannot name a certificate; use letters, digits, -", name=name)
            )
        made = issue(self.ca(), kind, name, hosts, now, days)
        write_private(self.key_of(name), made.key_pem, replace=True)
        self.cert_of(name).write_bytes(made.cert_pem + self.ca_cert.read_bytes())
        return self.cert_of(name)

    def listing(self) -> list[tuple[Path, CertInfo]]:
        """Every certificate of the folder, the CA first, with what it says."""
        if not self.folder.is_dir():
            return []
        found = sorted(self.folder.glob("*.pem"), key=lambda p: (p.name != "ca.pem", p.name))
        return [(path, describe(path.read_bytes())) for path in found]
