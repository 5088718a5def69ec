"""Access tokens: RS256 JWTs signed by the sandbox's Entra ID key, and their validation."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_LIFETIME = 3600
VERIFIED_TOKENS = 1024
"""Tokens whose checked claims are remembered (all are dropped when it fills up)."""


def issuer_for(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def audience_for_scope(scope: str) -> str:
    """``https://vault.azure.net/.default`` -> ``https://vault.azure.net`` (ARM keeps its slash)."""
    resource = scope.removesuffix("/.default").removesuffix("/")
    if resource in ("https://management.azure.com", "https://management.core.windows.net"):
        return resource + "/"
    return resource


def same_audience(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


@dataclass(frozen=True)
class Claims:
    tenant_id: str
    object_id: str
    app_id: str
    audience: str
    issuer: str
    expires: int
    raw: dict[str, Any]


class TokenError(Exception):
    """``kind`` is one of missing, malformed, signature, expired, audience."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class TokenIssuer:
    def __init__(self, key_path: Path, lifetime: int = DEFAULT_LIFETIME) -> None:
        self.lifetime = lifetime
        self._key = _load_or_create_key(key_path)
        self._public = self._key.public_key()
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
        self._verified: dict[str, Claims] = {}

    def issue(self, tenant_id: str, object_id: str, app_id: str, audience: str) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": issuer_for(tenant_id),
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.lifetime,
            "appid": app_id,
            "appidacr": "1",
            "idtyp": "app",
            "oid": object_id,
            "sub": object_id,
            "tid": tenant_id,
            "uti": uuid.uuid4().hex,
            "ver": "1.0",
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        return token, self.lifetime

    def validate(self, token: str, audience: str | None) -> Claims:
        """The token's claims once its signature, expiry and (if given) audience hold;
        raise TokenError. A token whose signature was checked is remembered until it
        expires: every request carries one of a few tokens, and checking the signature
        each time cost about 7 % of the emulator's CPU in a benchmark run."""
        claims = self._verified.get(token)
        if claims is None or claims.expires <= time.time():
            claims = self._verify(token)
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        if audience is not None and not same_audience(claims.audience, audience):
            raise TokenError(
                "audience", f"The access token audience '{claims.audience}' is invalid."
            )
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed", "The access token is malformed.") from exc
        if header.get("kid") != self.kid or header.get("alg") != "RS256":
            raise TokenError("signature", "The access token has an unknown signing key.")
        try:
            raw = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                options={"verify_aud": False},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("expired", "The access token has expired.") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("signature", "The access token signature is invalid.") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("malformed", "The access token is invalid.") from exc
        return Claims(
            tenant_id=str(raw.get("tid", "")),
            object_id=str(raw.get("oid", "")),
            app_id=str(raw.get("appid", "")),
            audience=str(raw.get("aud", "")),
            issuer=str(raw.get("iss", "")),
            expires=int(raw.get("exp", 0)),
            raw=raw,
        )

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign arbitrary claims (the ACR front's refresh and access tokens)."""
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def decode(self, token: str) -> dict[str, Any]:
        """Verify signature and expiry of a token :meth:`sign` made; raise TokenError."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._public, algorithms=["RS256"], options={"verify_aud": False}
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("expired", "The token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("signature", "The token is invalid.") from exc
        return claims

    def jwks(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.kid,
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                }
            ]
        }


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key
