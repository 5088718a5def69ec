"""Microsoft.Storage/storageAccounts, mapped onto the Azurite accounts in services.json
(reached through the emulator's fault-injecting proxies, ``emulator/storage/proxy.py``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import ArmContext, now_iso, require_account_key
from atg_dataplane_sandbox.emulator.common.errors import json_response
from atg_dataplane_sandbox.emulator.common.providers import Provider, register
from atg_dataplane_sandbox.emulator.storage.proxy import storage_endpoints


class StorageProvider(Provider):
    namespace = "Microsoft.Storage"
    resource_type = "storageAccounts"
    location_lro = True

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        name = resource["name"]
        props = resource["properties"]
        resource.setdefault("kind", "StorageV2")
        resource.setdefault("sku", {"name": "Standard_LRS", "tier": "Standard"})
        # Blob/Queue/Table: the emulator's fault-injecting proxies in front of Azurite
        # (service ``storage`` of the fault spec); File: our File service.
        endpoints = storage_endpoints(ctx.emu, name)
        props.update(
            {
                "provisioningState": "Succeeded",
                "primaryEndpoints": endpoints,
                "primaryLocation": resource.get("location"),
                "statusOfPrimary": "available",
                "creationTime": (existing or {})
                .get("properties", {})
                .get("creationTime", now_iso()),
                "supportsHttpsTrafficOnly": True,
            }
        )
        props.setdefault("allowSharedKeyAccess", True)
        props.setdefault("minimumTlsVersion", "TLS1_2")
        return resource

    async def _list_keys(self, ctx: ArmContext, resource: dict[str, Any]) -> web.StreamResponse:
        key = require_account_key(
            ctx,
            "azurite",
            resource,
            code="StorageAccountNotInSandbox",
            missing="The storage account '{name}' has no Azurite account in this sandbox.",
        )
        created = resource["properties"].get("creationTime")
        return json_response(
            {
                "keys": [
                    {
                        "keyName": "key1",
                        "value": key,
                        "permissions": "FULL",
                        "creationTime": created,
                    },
                ]
            }
        )

    def __init__(self) -> None:
        self.actions = {"listkeys": self._list_keys}


register(StorageProvider())
