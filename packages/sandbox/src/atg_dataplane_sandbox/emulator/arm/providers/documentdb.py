"""Microsoft.DocumentDB/databaseAccounts, mapped onto the Cosmos DB servers in services.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.arm.common import ArmContext
from atg_dataplane_sandbox.emulator.arm.providers.base import Provider, register
from atg_dataplane_sandbox.emulator.errors import AzureError, json_response


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
        accounts = (ctx.emu.read_services().get("cosmos") or {}).get("accounts") or {}
        account = accounts.get(resource["name"]) or {}
        resource.setdefault("kind", "GlobalDocumentDB")
        props = resource["properties"]
        props.setdefault("databaseAccountOfferType", "Standard")
        props.setdefault(
            "locations", [{"locationName": resource.get("location"), "failoverPriority": 0}]
        )
        props["provisioningState"] = "Succeeded"
        endpoint = account.get("endpoint")
        if endpoint:
            props["documentEndpoint"] = endpoint.rstrip("/") + "/"
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
