"""Microsoft.DocumentDB/databaseAccounts, mapped onto the Cosmos DB servers in services.json
(reached through the emulator's fault-injecting proxies, ``emulator/cosmos_proxy.py``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.arm.common import ArmContext
from atg_dataplane_sandbox.emulator.arm.providers.base import Provider, register
from atg_dataplane_sandbox.emulator.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.proxies import open_cosmos_proxy


class CosmosProvider(Provider):
    namespace = "Microsoft.DocumentDB"
    resource_type = "databaseAccounts"
    lro_put = True
    created_status = 200

    def __init__(self) -> None:
        self.actions = {"listkeys": self._list_keys}

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        resource.setdefault("kind", "GlobalDocumentDB")
        props = resource["properties"]
        props.setdefault("databaseAccountOfferType", "Standard")
        props.setdefault(
            "locations", [{"locationName": resource.get("location"), "failoverPriority": 0}]
        )
        props["provisioningState"] = "Succeeded"
        # The account's fault-injecting proxy (service ``cosmos`` of the fault spec) in front
        # of its Cosmos DB server.
        proxy = await open_cosmos_proxy(ctx.emu, resource["name"])
        if proxy:
            props["documentEndpoint"] = proxy + "/"
        return resource

    async def _list_keys(self, ctx: ArmContext, resource: dict[str, Any]) -> web.StreamResponse:
        key = ctx.emu.read_account_key("cosmos", resource["name"])
        if key is None:
            raise AzureError(
                409,
                "DatabaseAccountNotInSandbox",
                f"The account '{resource['name']}' has no Cosmos DB server in this sandbox.",
            )
        return json_response(
            {
                "primaryMasterKey": key,
                "secondaryMasterKey": key,
                "primaryReadonlyMasterKey": key,
                "secondaryReadonlyMasterKey": key,
            }
        )


register(CosmosProvider())
