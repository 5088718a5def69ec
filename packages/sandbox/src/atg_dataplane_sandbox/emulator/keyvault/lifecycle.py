"""The handlers secrets, keys and certificates share: versions, delete, the deleted view,
recover, purge, backup and restore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.keyvault.vault import SINGULAR, VaultContext

Shape = Callable[[VaultContext, dict[str, Any], str, dict[str, Any]], dict[str, Any]]
Item = Callable[[VaultContext, dict[str, Any], str | None], dict[str, Any]]


@dataclass(frozen=True)
class Collection:
    kind: str
    shape: Shape
    """The full body of one version."""
    item: Item
    """One entry of a list (a version, or with None the object's newest)."""
    managed: tuple[str, ...] = ()
    """Kinds whose objects of the same name are deleted, recovered and purged with it."""


def latest(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The newest version of an object and its record."""
    version = obj["order"][-1]
    return version, obj["versions"][version]


async def list_versions(vc: VaultContext, collection: Collection, name: str) -> web.Response:
    vc.require(collection.kind, "list", name)
    obj = vc.live(collection.kind).get(name.lower())
    if obj is None:
        return vc.page([])
    found = obj
    return vc.page(list(found["order"]), lambda v: collection.item(vc, found, v))


async def delete(vc: VaultContext, collection: Collection, name: str) -> web.Response:
    kind = collection.kind
    vc.require(kind, "delete", name)
    obj = vc.get(kind, name)
    if latest(obj)[1].get("managed"):
        raise AzureError(
            403,
            "Forbidden",
            f"{SINGULAR[kind]} {name} is managed by a certificate; delete the certificate instead.",
            inner_code=f"Managed{SINGULAR[kind]}",
        )
    obj = vc.soft_delete_object(kind, name)
    for managed_kind in collection.managed:
        if name.lower() in vc.live(managed_kind):
            vc.soft_delete_object(managed_kind, name)
    return json_response(collection.shape(vc, obj, *latest(obj)))


async def get_deleted(vc: VaultContext, collection: Collection, name: str) -> web.Response:
    vc.require(collection.kind, "getdeleted", name)
    obj = vc.get_deleted(collection.kind, name)
    return json_response(collection.shape(vc, obj, *latest(obj)))


async def list_deleted(vc: VaultContext, collection: Collection) -> web.Response:
    vc.require(collection.kind, "list")
    objs = [obj for _, obj in sorted(vc.deleted(collection.kind).items())]
    return vc.page(objs, lambda obj: collection.item(vc, obj, None))


async def recover(vc: VaultContext, collection: Collection, name: str) -> web.Response:
    vc.require(collection.kind, "recover", name)
    vc.get_deleted(collection.kind, name)
    obj = vc.recover_object(collection.kind, name)
    for managed_kind in collection.managed:
        if name.lower() in vc.deleted(managed_kind):
            vc.recover_object(managed_kind, name)
    return json_response(collection.shape(vc, obj, *latest(obj)))


async def purge(vc: VaultContext, collection: Collection, name: str) -> web.Response:
    vc.require(collection.kind, "purge", name)
    vc.purge_object(collection.kind, name)
    for managed_kind in collection.managed:
        if name.lower() in vc.deleted(managed_kind):
            vc.purge_object(managed_kind, name)
    return web.Response(status=204)


async def backup(vc: VaultContext, collection: Collection, name: str) -> web.Response:
    vc.require(collection.kind, "backup", name)
    return json_response(vc.seal(collection.kind, vc.get(collection.kind, name)))


async def restore(vc: VaultContext, collection: Collection) -> web.Response:
    vc.require(collection.kind, "restore")
    obj = vc.unseal(collection.kind)
    vc.live(collection.kind)[obj["name"].lower()] = obj
    vc.touch()
    return json_response(collection.shape(vc, obj, *latest(obj)))
