"""Microsoft.DocumentDB/databaseAccounts, mapped onto the Cosmos DB servers in services.json
(reached through the emulator's fault-injecting proxies, ``emulator/cosmos/proxy.py``, which
check every request's key or token), with the account's keys and its native RBAC
(``arm_roles.py``, declared for the ARM resource tree), and its NoSQL databases,
containers, throughput and scripts (``arm_sql.py``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import ArmContext, require_account_key
from atg_dataplane_sandbox.emulator.common.errors import json_response
from atg_dataplane_sandbox.emulator.common.providers import Provider, register
from atg_dataplane_sandbox.emulator.cosmos import arm_roles  # noqa: F401  (declares the RBAC children)
from atg_dataplane_sandbox.emulator.cosmos import arm_sql as documentdb_sql
from atg_dataplane_sandbox.emulator.cosmos.auth import AccountKeys, account_keys
from atg_dataplane_sandbox.emulator.cosmos.proxy import open_cosmos_proxy


class CosmosProvider(Provider):
    namespace = "Microsoft.DocumentDB"
    resource_type = "databaseAccounts"
    lro_put = True
    created_status = 200

    def __init__(self) -> None:
        self.actions = {"listkeys": self._list_keys, "readonlykeys": self._read_only_keys}

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

    async def child(
        self, ctx: ArmContext, resource: dict[str, Any], rest: list[str]
    ) -> web.StreamResponse | None:
        if documentdb_sql.handles(rest):
            return await documentdb_sql.child(ctx, resource, rest)
        if [s.lower() for s in rest] == ["readonlykeys"] and ctx.request.method == "GET":
            ctx.require(f"{self.full_type}/readonlykeys/action", resource["id"])
            return await self._read_only_keys(ctx, resource)
        return None

    async def _list_keys(self, ctx: ArmContext, resource: dict[str, Any]) -> web.StreamResponse:
        keys = _keys(ctx, resource)
        return json_response(
            {
                "primaryMasterKey": keys.primary,
                "secondaryMasterKey": keys.secondary,
                "primaryReadonlyMasterKey": keys.primary_readonly,
                "secondaryReadonlyMasterKey": keys.secondary_readonly,
            }
        )

    async def _read_only_keys(
        self, ctx: ArmContext, resource: dict[str, Any]
    ) -> web.StreamResponse:
        keys = _keys(ctx, resource)
        return json_response(
            {
                "primaryReadonlyMasterKey": keys.primary_readonly,
                "secondaryReadonlyMasterKey": keys.secondary_readonly,
            }
        )


def _keys(ctx: ArmContext, resource: dict[str, Any]) -> AccountKeys:
    key = require_account_key(
        ctx,
        "cosmos",
        resource,
        code="DatabaseAccountNotInSandbox",
        missing="The account '{name}' has no Cosmos DB server in this sandbox.",
    )
    return account_keys(key)


register(CosmosProvider())
