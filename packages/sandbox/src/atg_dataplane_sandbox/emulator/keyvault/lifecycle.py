"""The handlers secrets, keys and certificates share: versions, delete, the deleted view,
recover, purge, backup and restore. Each collection passes its kind and its two shapes:
``shape`` (the full body of one version) and ``item`` (one entry of a list)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.keyvault.vault import SINGULAR, VaultContext

Shape = Callable[[VaultContext, dict[str, Any], str, dict[str, Any]], dict[str, Any]]
Item = Callable[[VaultContext, dict[str, Any], str | None], dict[str, Any]]


def latest(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The newest version of an object and its record."""
    version = obj["order"][-1]
    return version, obj["versions"][version]


async def list_versions(vc: VaultContext, kind: str, name: str, item: Item) -> web.Response:
    vc.require(kind, "list", name)
    obj = vc.live(kind).get(name.lower())
    if obj is None:
        return vc.page([])
    found = obj
    return vc.page(list(found["order"]), lambda v: item(vc, found, v))


async def delete(
    vc: VaultContext, kind: str, name: str, shape: Shape, managed: tuple[str, ...] = ()
) -> web.Response:
    """Soft-delete an object and the ``managed`` kinds' objects of the same name."""
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
    for managed_kind in managed:
        if name.lower() in vc.live(managed_kind):
            vc.soft_delete_object(managed_kind, name)
    return json_response(shape(vc, obj, *latest(obj)))


async def get_deleted(vc: VaultContext, kind: str, name: str, shape: Shape) -> web.Response:
    vc.require(kind, "getdeleted", name)
    obj = vc.get_deleted(kind, name)
    return json_response(shape(vc, obj, *latest(obj)))


async def list_deleted(vc: VaultContext, kind: str, item: Item) -> web.Response:
    vc.require(kind, "list")
    objs = [obj for _, obj in sorted(vc.deleted(kind).items())]
    return vc.page(objs, lambda obj: item(vc, obj, None))


async def recover(
    vc: VaultContext, kind: str, name: str, shape: Shape, managed: tuple[str, ...] = ()
) -> web.Response:
    vc.require(kind, "recover", name)
    vc.get_deleted(kind, name)
    obj = vc.recover_object(kind, name)
    for managed_kind in managed:
        if name.lower() in vc.deleted(managed_kind):
            vc.recover_object(managed_kind, name)
    return json_response(shape(vc, obj, *latest(obj)))


async def purge(
    vc: VaultContext, kind: str, name: str, managed: tuple[str, ...] = ()
) -> web.Response:
    vc.require(kind, "purge", name)
    vc.purge_object(kind, name)
    for managed_kind in managed:
        if name.lower() in vc.deleted(managed_kind):
            vc.purge_object(managed_kind, name)
    return web.Response(status=204)


async def backup(vc: VaultContext, kind: str, name: str) -> web.Response:
    vc.require(kind, "backup", name)
    return json_response(vc.seal(kind, vc.get(kind, name)))


async def restore(vc: VaultContext, kind: str, shape: Shape) -> web.Response:
    vc.require(kind, "restore")
    obj = vc.unseal(kind)
    vc.live(kind)[obj["name"].lower()] = obj
    vc.touch()
    return json_response(shape(vc, obj, *latest(obj)))
