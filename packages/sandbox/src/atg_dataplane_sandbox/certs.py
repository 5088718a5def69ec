"""The sandbox's test CA and its server certificate (``trustme``), made once per directory;
and self-signed client certificates in a PFX, as users upload them (API Management)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server.key"
SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class CertPaths:
    ca: Path
    """PEM of the CA: pass it as ``connection_verify`` / ``REQUESTS_CA_BUNDLE``."""
    cert: Path
    """PEM chain of the server certificate (leaf first), for 127.0.0.1 and localhost."""
    key: Path
    """PEM private key of the server certificate (mode 0600)."""


def cert_paths(directory: str | os.PathLike[str]) -> CertPaths:
    base = Path(directory)
    return CertPaths(ca=base / CA_FILE, cert=base / CERT_FILE, key=base / KEY_FILE)


def ensure_certs(directory: str | os.PathLike[str]) -> CertPaths:
    """Create the CA and a leaf for 127.0.0.1/localhost in ``directory`` unless all exist.

    Idempotent: existing files are kept, so clients that trusted the CA keep trusting it.
    """
    import trustme  # imported here: only the first run needs it

    paths = cert_paths(directory)
    if paths.ca.exists() and paths.cert.exists() and paths.key.exists():
        return paths
    paths.ca.parent.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="atg-dataplane sandbox")
    leaf = ca.issue_cert(*SERVER_NAMES)
    _write(paths.ca, ca.cert_pem.bytes(), 0o644)
    _write(paths.cert, b"".join(blob.bytes() for blob in leaf.cert_chain_pems), 0o644)
    _write(paths.key, leaf.private_key_pem.bytes(), 0o600)
    return paths


def client_pfx(common_name: str, password: str, days: int = 365) -> tuple[bytes, Any]:
    """A self-signed client certificate with its (EC P-256) key as a PFX protected by
    ``password``; and the ``cryptography`` certificate, for what a test compares."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pfx = pkcs12.serialize_key_and_certificates(
        b"client", key, cert, None, BestAvailableEncryption(password.encode())
    )
    return pfx, cert


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
