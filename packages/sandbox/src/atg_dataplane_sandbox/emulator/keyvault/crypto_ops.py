"""encrypt/decrypt/wrapKey/unwrapKey/sign/verify with a vault key, as Key Vault does them."""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.keyvault.material import PrivateKey, b64u, unb64u

OPERATIONS = frozenset({"encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify"})
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
    "256K": hashes.SHA256(),
}


def _rsa_padding(alg: str) -> padding.AsymmetricPadding:
    if alg == "RSA-OAEP":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    if alg == "RSA-OAEP-256":
        return padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
    if alg == "RSA1_5":
        return padding.PKCS1v15()
    raise AzureError(400, "BadParameter", f"Unsupported algorithm {alg} for an RSA key.")


def run_operation(key: PrivateKey, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    alg = str(body.get("alg", ""))
    value = unb64u(str(body.get("value", "")))
    if operation in ("encrypt", "wrapkey", "decrypt", "unwrapkey"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise AzureError(400, "BadParameter", "Only RSA keys encrypt in a vault.")
        pad = _rsa_padding(alg)
        try:
            if operation in ("encrypt", "wrapkey"):
                return {"alg": alg, "value": b64u(key.public_key().encrypt(value, pad))}
            return {"alg": alg, "value": b64u(key.decrypt(value, pad))}
        except ValueError:
            raise AzureError(400, "BadParameter", "Decryption failed.") from None
    digest_alg = _HASHES.get(alg[2:])
    if digest_alg is None:
        raise AzureError(400, "BadParameter", f"Unsupported signature algorithm {alg}.")
    prehashed = utils.Prehashed(digest_alg)
    if operation == "sign":
        if isinstance(key, rsa.RSAPrivateKey):
            sig = key.sign(value, _sig_padding(alg), prehashed)
        else:
            der = key.sign(value, ec.ECDSA(prehashed))
            r, s = utils.decode_dss_signature(der)
            size = (key.curve.key_size + 7) // 8
            sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return {"value": b64u(sig)}
    digest = unb64u(str(body.get("digest", "")))
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            key.public_key().verify(value, digest, _sig_padding(alg), prehashed)
        else:
            half = len(value) // 2
            der = utils.encode_dss_signature(
                int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big")
            )
            key.public_key().verify(der, digest, ec.ECDSA(prehashed))
        return {"value": True}
    except InvalidSignature:
        return {"value": False}


def _sig_padding(alg: str) -> padding.AsymmetricPadding:
    if alg.startswith("PS"):
        return padding.PSS(
            mgf=padding.MGF1(_HASHES[alg[2:]]), salt_length=padding.PSS.DIGEST_LENGTH
        )
    return padding.PKCS1v15()
