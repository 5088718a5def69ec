"""Key Vault secrets: set/get/list/versions/update/delete/recover/purge/backup/restore."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.keyvault import lifecycle
from atg_dataplane_sandbox.emulator.keyvault.vault import VaultContext, read_attributes

KIND = "secrets"
MAX_VALUE_BYTES = 25 * 1024


def bundle(
    vc: VaultContext,
    obj: dict[str, Any],
    version: str,
    record: dict[str, Any],
    with_value: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": vc.object_id(KIND, obj["name"], version),
        "attributes": vc.attributes(record["attributes"]),
        "tags": record.get("tags") or {},
    }
    if with_value:
        body["value"] = record["value"]
    if record.get("contentType") is not None:
        body["contentType"] = record["contentType"]
    if record.get("kid"):
        body["kid"] = record["kid"]
    if record.get("managed"):
        body["managed"] = True
    body.update(vc.deleted_fields(KIND, obj))
    return body


async def set_secret(vc: VaultContext, name: str) -> web.Response:
    vc.require(KIND, "set", name)
    body = vc.body if isinstance(vc.body, dict) else {}
    if "value" not in body or not isinstance(body["value"], str):
        raise AzureError(400, "BadParameter", "The parameter 'value' is required.")
    if len(body["value"].encode()) > MAX_VALUE_BYTES:
        raise AzureError(400, "BadParameter", "Secret value exceeds the maximum size of 25 KB.")
    existing = vc.live(KIND).get(name.lower())
    if existing and existing["versions"][existing["order"][-1]].get("managed"):
        raise AzureError(
            403,
            "Forbidden",
            f"Secret {name} is managed by a certificate and cannot be set directly.",
            inner_code="ManagedSecret",
        )
    record = {
        "value": body["value"],
        "contentType": body.get("contentType"),
        "tags": body.get("tags") or {},
        "attributes": read_attributes(body),
    }
    obj, version = vc.add_version(KIND, name, record)
    return json_response(bundle(vc, obj, version, record))


async def get_secret(vc: VaultContext, name: str, version: str) -> web.Response:
    vc.require(KIND, "get", name)
    obj = vc.get(KIND, name)
    version, record = vc.version(KIND, obj, version)
    if not record["attributes"].get("enabled", True):
        raise AzureError(
            403,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            inner_code="SecretDisabled",
        )
    return json_response(bundle(vc, obj, version, record))


async def update_secret(vc: VaultContext, name: str, version: str) -> web.Response:
    vc.require(KIND, "update", name)
    obj = vc.get(KIND, name)
    version, record = vc.version(KIND, obj, version)
    body = vc.body if isinstance(vc.body, dict) else {}
    record["attributes"] = read_attributes(body, record["attributes"])
    if "contentType" in body:
        record["contentType"] = body["contentType"]
    if "tags" in body:
        record["tags"] = body["tags"] or {}
    vc.touch()
    return json_response(bundle(vc, obj, version, record, with_value=False))


async def list_secrets(vc: VaultContext) -> web.Response:
    vc.require(KIND, "list")
    objs = [obj for _, obj in sorted(vc.live(KIND).items())]
    return vc.page(objs, lambda obj: _list_item(vc, obj, None))


def _list_item(vc: VaultContext, obj: dict[str, Any], version: str | None) -> dict[str, Any]:
    record = obj["versions"][version or obj["order"][-1]]
    body = bundle(vc, obj, version or obj["order"][-1], record, with_value=False)
    body["id"] = vc.object_id(KIND, obj["name"], version)
    return body


def _bundle_without_value(
    vc: VaultContext, obj: dict[str, Any], version: str, record: dict[str, Any]
) -> dict[str, Any]:
    return bundle(vc, obj, version, record, with_value=False)


COLLECTION = lifecycle.Collection(KIND, shape=_bundle_without_value, item=_list_item)


async def delete_secret(vc: VaultContext, name: str) -> web.Response:
    return await lifecycle.delete(vc, COLLECTION, name)
