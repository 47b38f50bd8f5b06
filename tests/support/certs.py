"""Certificate authorities and certificates made at run time with ``cryptography``, for TLS tests.

    ca = CA(tmp_path, "test-ca")
    node = ca.issue("n1", ips=["127.0.0.1"])          # .cert, .key: PEM file paths
    ca.issue("old", expired=True); ca.issue("x", dns=["other.example"])
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cn: str
    cert: str
    key: str
    serial: int


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


class CA:
    def __init__(self, folder: Path, name: str = "manifest-test-ca"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self._cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                   content_commitment=False, key_encipherment=False,
                                                   data_encipherment=False, key_agreement=False,
                                                   encipher_only=False, decipher_only=False), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.cert = str(self.folder / f"{name}.pem")
        Path(self.cert).write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cn: str, *, ips=("127.0.0.1",), dns=("localhost",), expired: bool = False,
              tag: str | None = None) -> Issued:
        """A certificate for server and client use, signed by this CA, written as ``<cn>[-tag].pem/.key``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired else (
            now - dt.timedelta(hours=1), now + dt.timedelta(days=7))
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        serial = x509.random_serial_number()
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self._cert.subject)
                   .public_key(key.public_key()).serial_number(serial).not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        stem = self.folder / (f"{cn}-{tag}" if tag else cn)
        Path(f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(Path(f"{stem}.key"), key)
        return Issued(cn, f"{stem}.pem", f"{stem}.key", serial)

    def client_context(self, client: Issued | None = None) -> ssl.SSLContext:
        """A context trusting this CA, showing ``client``'s certificate if given."""
        ctx = ssl.create_default_context(cafile=self.cert)
        if client is not None:
            ctx.load_cert_chain(client.cert, client.key)
        return ctx


def peer_serial(sock) -> int:
    """The serial number of the certificate a connected TLS socket's peer showed."""
    return x509.load_der_x509_certificate(sock.getpeercert(binary_form=True)).serial_number
