"""X.509 for Key Vault certificates: self-signed from a policy, PFX/PEM in and out."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections import OrderedDict
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ObjectIdentifier

from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.keyvault.material import PrivateKey

PFX = "application/x-pkcs12"
PEM = "application/x-pem-file"
_USAGES = {
    "digitalsignature": "digital_signature",
    "nonrepudiation": "content_commitment",
    "keyencipherment": "key_encipherment",
    "dataencipherment": "data_encipherment",
    "keyagreement": "key_agreement",
    "keycertsign": "key_cert_sign",
    "crlsign": "crl_sign",
    "encipheronly": "encipher_only",
    "decipheronly": "decipher_only",
}
_USAGE_NAMES = {
    v: k
    for k, v in {
        "digitalSignature": "digital_signature",
        "nonRepudiation": "content_commitment",
        "keyEncipherment": "key_encipherment",
        "dataEncipherment": "data_encipherment",
        "keyAgreement": "key_agreement",
        "keyCertSign": "key_cert_sign",
        "cRLSign": "crl_sign",
        "encipherOnly": "encipher_only",
        "decipherOnly": "decipher_only",
    }.items()
}


def self_signed(key: PrivateKey, x509_props: dict[str, Any]) -> x509.Certificate:
    try:
        subject = x509.Name.from_rfc4514_string(x509_props.get("subject") or "CN=sandbox")
    except ValueError:
        raise AzureError(
            400, "BadParameter", "The subject of the certificate policy is not a valid X.500 name."
        ) from None
    months = int(x509_props.get("validity_months") or 12)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=round(months * 365 / 12)))
    )
    sans = x509_props.get("sans") or {}
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in sans.get("dns_names") or []]
    names += [x509.RFC822Name(n) for n in sans.get("emails") or []]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    ekus = x509_props.get("ekus")
    if ekus:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in ekus]), critical=False
        )
    usages = {u.lower() for u in x509_props.get("key_usage") or []}
    if usages:
        selected = {_USAGES[u] for u in usages if u in _USAGES}
        builder = builder.add_extension(
            x509.KeyUsage(**{f: f in selected for f in _USAGES.values()}), critical=True
        )
    ca = bool((x509_props.get("basic_constraints") or {}).get("ca"))
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(key, hashes.SHA256())


def csr(key: PrivateKey, x509_props: dict[str, Any]) -> str:
    """Base64 DER of the signing request a pending certificate operation shows."""
    subject = x509.Name.from_rfc4514_string(x509_props.get("subject") or "CN=sandbox")
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


_EXPORTS: OrderedDict[bytes, tuple[PrivateKey, list[x509.Certificate], str]] = OrderedDict()
EXPORTS_KEPT = 4096
"""Recent certificate exports recognized on import (most recent first to go last)."""


def secret_value(
    cert: x509.Certificate,
    key: PrivateKey | None,
    content_type: str,
    chain: list[x509.Certificate] | None = None,
) -> str:
    """The backing secret's value; ``key`` is None for a non-exportable key (certificates only,
    as Key Vault documents). The chain of an imported certificate follows the leaf."""
    if content_type == PEM:
        parts = []
        if key is not None:
            parts.append(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode()
            )
        for item in [cert, *(chain or [])]:
            parts.append(item.public_bytes(serialization.Encoding.PEM).decode())
        text = "".join(parts)
        _remember(text.encode(), key, [cert, *(chain or [])], PEM)
        return text
    blob = pkcs12.serialize_key_and_certificates(
        None, key, cert, chain or None, serialization.NoEncryption()
    )
    _remember(blob, key, [cert, *(chain or [])], PFX)
    return base64.b64encode(blob).decode()


def _remember(
    raw: bytes, key: PrivateKey | None, certs: list[x509.Certificate], content_type: str
) -> None:
    """Keep what an export holds, so that importing the same bytes needs no parsing: the
    key was checked when it was made, and checking it again costs ~50 ms of CPU."""
    if key is None:
        return
    _EXPORTS[hashlib.sha256(raw).digest()] = (key, certs, content_type)
    while len(_EXPORTS) > EXPORTS_KEPT:
        _EXPORTS.popitem(last=False)


def decode_import(value: str) -> bytes:
    """The file an import carries: base64 of it (what the SDK sends, PEM included) or PEM."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    try:
        return base64.b64decode(value)
    except ValueError:
        raise AzureError(400, "BadParameter", "The certificate value is not base64.") from None


def known_export(
    value: str, password: str | None, content_type: str | None
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate], str] | None:
    """What :func:`parse_import` would return for bytes this emulator exported, else None."""
    if password:
        return None
    found = _EXPORTS.get(hashlib.sha256(decode_import(value)).digest())
    if found is None or (content_type not in (None, found[2])):
        return None
    key, certs, detected = found
    return key, certs[0], certs[1:], detected


def parse_import(
    value: str, password: str | None, content_type: str | None
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate], str]:
    """Key, leaf, extra certs and the content type from an imported PFX or PEM.

    ``value`` is base64 of the file (what the SDK sends, PEM included) or raw PEM text.
    """
    raw = decode_import(value)
    if raw.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(
                raw, password=password.encode() if password else None
            )
            certs = x509.load_pem_x509_certificates(raw)
        except ValueError:
            raise AzureError(
                400,
                "BadParameter",
                "The specified PEM X.509 certificate content "
                "is in an unexpected format. Please check if certificate is in "
                "valid PEM format.",
            ) from None
        return key, certs[0], certs[1:], PEM  # type: ignore[return-value]
    if content_type == PEM:
        raise AzureError(
            400,
            "BadParameter",
            "The specified PEM X.509 certificate content is "
            "in an unexpected format. Please check if certificate is in valid PEM "
            "format.",
        )
    try:
        pfx_key, cert, extra = pkcs12.load_key_and_certificates(
            raw, password.encode() if password else None
        )
    except ValueError:
        raise AzureError(
            400,
            "BadParameter",
            "The specified PKCS#12 X.509 certificate content "
            "can not be read. Please check if certificate is in valid PKCS#12 "
            "format.",
        ) from None
    if pfx_key is None or cert is None:
        raise AzureError(400, "BadParameter", "The imported certificate has no private key.")
    return pfx_key, cert, list(extra), PFX  # type: ignore[return-value]


def x509_props_of(cert: x509.Certificate) -> dict[str, Any]:
    props: dict[str, Any] = {
        "subject": cert.subject.rfc4514_string(),
        "ekus": [],
        "key_usage": [],
        "sans": {},
    }
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    props["validity_months"] = max(1, round(days * 12 / 365))
    for ext in cert.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectAlternativeName):
            props["sans"] = {
                "dns_names": value.get_values_for_type(x509.DNSName),
                "emails": value.get_values_for_type(x509.RFC822Name),
            }
        elif isinstance(value, x509.ExtendedKeyUsage):
            props["ekus"] = [o.dotted_string for o in value]
        elif isinstance(value, x509.KeyUsage):
            for attr, name in _USAGE_NAMES.items():
                try:
                    if getattr(value, attr):
                        props["key_usage"].append(name)
                except ValueError:
                    pass
        elif isinstance(value, x509.BasicConstraints):
            props["basic_constraints"] = {"ca": value.ca}
    return props
