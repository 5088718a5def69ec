"""Real key material: generate RSA/EC keys, convert to and from JWK, PEM storage."""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from atg_dataplane_sandbox.emulator.common.errors import AzureError

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
    "P-256K": ec.SECP256K1,
}
CURVE_NAMES: dict[str, str] = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
    "secp256k1": "P-256K",
}
RSA_SIZES = (2048, 3072, 4096)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(value: int, length: int | None = None) -> str:
    size = length or max(1, (value.bit_length() + 7) // 8)
    return b64u(value.to_bytes(size, "big"))


def _from_b64(text: str) -> int:
    return int.from_bytes(unb64u(text), "big")


def generate(kty: str, size: int | None, curve: str | None, exponent: int | None) -> PrivateKey:
    family = kty.upper().removesuffix("-HSM")
    if family == "RSA":
        size = size or 2048
        if size not in RSA_SIZES:
            raise AzureError(
                400,
                "BadParameter",
                f"Invalid key size {size}: RSA keys must be 2048, 3072 or 4096 bits.",
            )
        return rsa.generate_private_key(public_exponent=exponent or 65537, key_size=size)
    if family == "EC":
        curve = curve or "P-256"
        if curve not in CURVES:
            raise AzureError(400, "BadParameter", f"Invalid curve name {curve}.")
        return ec.generate_private_key(CURVES[curve]())
    raise AzureError(
        400,
        "BadParameter",
        f"Key type {kty} is not supported by this vault (symmetric keys need a Managed HSM).",
    )


def to_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@functools.lru_cache(maxsize=2048)
def from_pem(pem: str) -> PrivateKey:
    """A stored key (cached: keys are immutable). Stored keys were validated when generated
    or imported, so they are not validated again (an RSA check costs milliseconds)."""
    key = serialization.load_pem_private_key(
        pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
    )
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"n": _int(numbers.n), "e": _int(numbers.e)}
    pub = key.public_key().public_numbers()
    length = (key.curve.key_size + 7) // 8
    return {"crv": CURVE_NAMES[key.curve.name], "x": _int(pub.x, length), "y": _int(pub.y, length)}


def from_jwk(jwk: dict[str, Any]) -> PrivateKey:
    """A private key from an imported JWK (RSA needs n,e,d,p,q,dp,dq,qi; EC crv,x,y,d)."""
    kty = str(jwk.get("kty", "")).upper().removesuffix("-HSM")
    try:
        if kty == "RSA":
            public = rsa.RSAPublicNumbers(_from_b64(jwk["e"]), _from_b64(jwk["n"]))
            return rsa.RSAPrivateNumbers(
                p=_from_b64(jwk["p"]),
                q=_from_b64(jwk["q"]),
                d=_from_b64(jwk["d"]),
                dmp1=_from_b64(jwk["dp"]),
                dmq1=_from_b64(jwk["dq"]),
                iqmp=_from_b64(jwk["qi"]),
                public_numbers=public,
            ).private_key()
        if kty == "EC":
            curve = CURVES[jwk["crv"]]()
            public_ec = ec.EllipticCurvePublicNumbers(
                _from_b64(jwk["x"]), _from_b64(jwk["y"]), curve
            )
            return ec.EllipticCurvePrivateNumbers(_from_b64(jwk["d"]), public_ec).private_key()
    except (KeyError, ValueError, TypeError):
        raise AzureError(
            400, "BadParameter", "The imported key is not a valid private JWK."
        ) from None
    raise AzureError(400, "BadParameter", f"Key type {kty} cannot be imported into this vault.")


def kty_of(key: PrivateKey, hsm: bool = False) -> str:
    base = "RSA" if isinstance(key, rsa.RSAPrivateKey) else "EC"
    return base + ("-HSM" if hsm else "")


def default_ops(kty: str) -> list[str]:
    if kty.upper().startswith("EC"):
        return ["sign", "verify"]
    return ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
