"""Key Vault keys: create (real RSA/EC), import, get/list/versions/update, delete/recover/
purge, backup/restore, rotation policy, and the cryptographic operations."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.keyvault import keypool, lifecycle, material
from atg_dataplane_sandbox.emulator.keyvault.crypto_ops import OPERATIONS, run_operation
from atg_dataplane_sandbox.emulator.keyvault.vault import (
    VaultContext,
    now,
    path_not_found,
    read_attributes,
)

KIND = "keys"


async def route(vc: VaultContext, rest: list[str], method: str) -> web.StreamResponse:
    low = [s.lower() for s in rest]
    if not rest:
        if method == "GET":
            return await list_keys(vc)
        raise path_not_found(vc)
    name = rest[0]
    if len(rest) == 1:
        if low[0] == "restore" and method == "POST":
            return await lifecycle.restore(vc, COLLECTION)
        handlers = {"PUT": import_key, "GET": get_key, "PATCH": update_key, "DELETE": delete_key}
        if method in handlers:
            return await handlers[method](vc, name)
    if len(rest) == 2:
        sub = low[1]
        if sub == "create" and method == "POST":
            return await create_key(vc, name)
        if sub == "versions" and method == "GET":
            return await lifecycle.list_versions(vc, COLLECTION, name)
        if sub == "backup" and method == "POST":
            return await lifecycle.backup(vc, COLLECTION, name)
        if sub == "rotate" and method == "POST":
            return await rotate(vc, name)
        if sub == "rotationpolicy":
            return await rotation_policy(vc, name, method)
        if sub in OPERATIONS and method == "POST":
            return await crypto(vc, name, "", sub)
        if method == "GET":
            return await get_key(vc, name, rest[1])
        if method == "PATCH":
            return await update_key(vc, name, rest[1])
    if len(rest) == 3 and method == "POST" and low[2] in OPERATIONS:
        return await crypto(vc, name, rest[1], low[2])
    if len(rest) == 3 and method == "POST" and low[2] == "release":
        vc.require(KIND, "release", name)
        raise AzureError(
            400,
            "BadParameter",
            "Key release needs an attestation service, which the sandbox does not emulate.",
        )
    raise path_not_found(vc)


def key_bundle(
    vc: VaultContext, obj: dict[str, Any], version: str, record: dict[str, Any]
) -> dict[str, Any]:
    if "jwk" not in record:  # state written before the public part was kept
        record["jwk"] = material.public_jwk(material.from_pem(record["pem"]))
    body: dict[str, Any] = {
        "key": {
            "kid": vc.object_id(KIND, obj["name"], version),
            "kty": record["kty"],
            "key_ops": record["key_ops"],
            **record["jwk"],
        },
        "attributes": vc.attributes(record["attributes"]),
        "tags": record.get("tags") or {},
    }
    if record.get("managed"):
        body["managed"] = True
    if record.get("release_policy"):
        body["release_policy"] = record["release_policy"]
    body.update(vc.deleted_fields(KIND, obj))
    return body


def _item(vc: VaultContext, obj: dict[str, Any], version: str | None) -> dict[str, Any]:
    record = obj["versions"][version or obj["order"][-1]]
    body: dict[str, Any] = {
        "kid": vc.object_id(KIND, obj["name"], version),
        "attributes": vc.attributes(record["attributes"]),
        "tags": record.get("tags") or {},
    }
    if record.get("managed"):
        body["managed"] = True
    body.update(vc.deleted_fields(KIND, obj))
    return body


COLLECTION = lifecycle.Collection(KIND, shape=key_bundle, item=_item)


def _check_release(body: dict[str, Any]) -> None:
    exportable = (body.get("attributes") or {}).get("exportable")
    if exportable and not body.get("release_policy"):
        raise AzureError(400, "BadParameter", "Exportable keys must have a release policy.")
    if body.get("release_policy") and not exportable:
        raise AzureError(400, "BadParameter", "A release policy requires an exportable key.")


def make_record(
    key: material.PrivateKey, kty: str, body: dict[str, Any], managed: bool = False
) -> dict[str, Any]:
    policy = body.get("release_policy")
    if policy is not None:
        policy = {
            "contentType": policy.get("contentType", "application/json; charset=utf-8"),
            "data": policy.get("data"),
            "immutable": bool(policy.get("immutable", False)),
        }
    return {
        "kty": kty,
        "pem": material.to_pem(key),
        "jwk": material.public_jwk(key),
        "key_ops": body.get("key_ops") or material.default_ops(kty),
        "attributes": read_attributes(body),
        "tags": body.get("tags") or {},
        "release_policy": policy,
        "managed": managed,
    }


async def create_key(vc: VaultContext, name: str) -> web.Response:
    vc.require(KIND, "create", name)
    body = vc.body if isinstance(vc.body, dict) else {}
    kty = str(body.get("kty", ""))
    if not kty:
        raise AzureError(400, "BadParameter", "The parameter 'kty' is required.")
    _check_release(body)
    vc.check_not_deleted(KIND, name)
    key = await keypool.new_key(
        vc.emu, kty, body.get("key_size"), body.get("crv"), body.get("public_exponent")
    )
    record = make_record(key, kty.upper(), body)
    obj, version = vc.add_version(KIND, name, record)
    return json_response(key_bundle(vc, obj, version, record))


async def import_key(vc: VaultContext, name: str) -> web.Response:
    vc.require(KIND, "import", name)
    body = vc.body if isinstance(vc.body, dict) else {}
    jwk = body.get("key") or {}
    _check_release(body)
    key = material.from_jwk(jwk)
    kty = material.kty_of(key, hsm=bool(body.get("Hsm")))
    record = make_record(key, kty, {**body, "key_ops": jwk.get("key_ops")})
    obj, version = vc.add_version(KIND, name, record)
    return json_response(key_bundle(vc, obj, version, record))


async def get_key(vc: VaultContext, name: str, version: str = "") -> web.Response:
    vc.require(KIND, "get", name)
    obj = vc.get(KIND, name)
    version, record = vc.version(KIND, obj, version)
    return json_response(key_bundle(vc, obj, version, record))


async def update_key(vc: VaultContext, name: str, version: str = "") -> web.Response:
    vc.require(KIND, "update", name)
    obj = vc.get(KIND, name)
    version, record = vc.version(KIND, obj, version)
    body = vc.body if isinstance(vc.body, dict) else {}
    record["attributes"] = read_attributes(body, record["attributes"])
    if body.get("key_ops"):
        record["key_ops"] = body["key_ops"]
    if "tags" in body:
        record["tags"] = body["tags"] or {}
    if body.get("release_policy"):
        if (record.get("release_policy") or {}).get("immutable"):
            raise AzureError(400, "BadParameter", "The key's release policy is immutable.")
        record["release_policy"] = body["release_policy"]
    vc.touch()
    return json_response(key_bundle(vc, obj, version, record))


async def list_keys(vc: VaultContext) -> web.Response:
    vc.require(KIND, "list")
    objs = [obj for _, obj in sorted(vc.live(KIND).items())]
    return vc.page(objs, lambda obj: _item(vc, obj, None))


async def delete_key(vc: VaultContext, name: str) -> web.Response:
    return await lifecycle.delete(vc, COLLECTION, name)


async def rotation_policy(vc: VaultContext, name: str, method: str) -> web.Response:
    obj = vc.get(KIND, name)
    if method == "PUT":
        vc.require(KIND, "setrotationpolicy", name)
        body = vc.body if isinstance(vc.body, dict) else {}
        obj["rotation_policy"] = {
            "lifetimeActions": body.get("lifetimeActions") or [],
            "attributes": {**(body.get("attributes") or {}), "created": now(), "updated": now()},
        }
        vc.touch()
    elif method == "GET":
        vc.require(KIND, "getrotationpolicy", name)
    else:
        raise path_not_found(vc)
    policy = obj.get("rotation_policy") or {
        "lifetimeActions": [
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
        ],
        "attributes": {"expiryTime": None, "created": None, "updated": None},
    }
    return json_response({"id": f"{vc.object_id(KIND, obj['name'])}/rotationpolicy", **policy})


async def rotate(vc: VaultContext, name: str) -> web.Response:
    """A new version with the same type, size/curve, operations and tags."""
    vc.require(KIND, "rotate", name)
    obj = vc.get(KIND, name)
    current = obj["versions"][obj["order"][-1]]
    if current.get("managed"):
        raise AzureError(
            403, "Forbidden", f"Key {name} is managed by a certificate.", inner_code="ManagedKey"
        )
    old = material.from_pem(current["pem"])
    size = old.key_size if isinstance(old, rsa.RSAPrivateKey) else None
    curve = None if size else material.CURVE_NAMES[old.curve.name]  # type: ignore[union-attr]
    key = await keypool.new_key(vc.emu, current["kty"], size, curve, None)
    body = {
        "key_ops": current["key_ops"],
        "tags": current.get("tags"),
        "attributes": {"exportable": current["attributes"].get("exportable")},
        "release_policy": current.get("release_policy"),
    }
    record = make_record(key, current["kty"], body)
    obj, version = vc.add_version(KIND, name, record)
    return json_response(key_bundle(vc, obj, version, record))


async def crypto(vc: VaultContext, name: str, version: str, operation: str) -> web.Response:
    vc.require(KIND, operation, name)
    obj = vc.get(KIND, name)
    version, record = vc.version(KIND, obj, version)
    if not record["attributes"].get("enabled", True):
        raise AzureError(
            403,
            "Forbidden",
            "Operation is not allowed on a disabled key.",
            inner_code="KeyDisabled",
        )
    allowed = {op.lower() for op in record["key_ops"]}
    if operation not in allowed:
        raise AzureError(
            400, "BadParameter", f"Operation {operation} is not permitted for this key."
        )
    body = vc.body if isinstance(vc.body, dict) else {}
    result = run_operation(material.from_pem(record["pem"]), operation, body)
    return json_response({"kid": vc.object_id(KIND, obj["name"], version), **result})
