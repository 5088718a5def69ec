"""Microsoft.ContainerRegistry/registries: create and ``importImage`` are long-running
operations. Each registry gets an ACR front listener (its ``loginServer``); ``importImage``
copies inside the upstream registry (see :mod:`emulator.acr.importer`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from atg_dataplane_sandbox.emulator.acr.importer import import_image
from atg_dataplane_sandbox.emulator.common.arm import ArmContext, now_iso, read_json_body
from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.common.providers import Provider, register


class RegistryProvider(Provider):
    namespace = "Microsoft.ContainerRegistry"
    resource_type = "registries"
    lro_put = True
    lro_actions = frozenset({"importimage"})

    def __init__(self) -> None:
        self.actions = {"importimage": self._import_image}

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        upstream = (ctx.emu.read_services().get("registry") or {}).get("upstream") or ""
        registries = ctx.section("registries")
        data = registries.get(resource["name"].lower())
        if (
            existing is None
            and data
            and data.get("resource_id")
            and data["resource_id"].lower() != resource["id"].lower()
        ):
            raise AzureError(
                409, "AlreadyInUse", f"The registry {resource['name']} is already in use."
            )
        await ctx.emu.open_registry(resource["name"].lower())
        registries.setdefault(resource["name"].lower(), {})["resource_id"] = resource["id"]
        resource.setdefault("sku", {"name": "Standard", "tier": "Standard"})
        props = resource["properties"]
        props.setdefault("adminUserEnabled", False)
        props.setdefault(
            "creationDate", (existing or {}).get("properties", {}).get("creationDate", now_iso())
        )
        props["loginServer"] = ctx.emu.registry_login_server(resource["name"]) or (
            urlparse(upstream).netloc if upstream else f"{resource['name'].lower()}.sandbox"
        )
        props["provisioningState"] = "Succeeded"
        return resource

    async def _import_image(self, ctx: ArmContext, resource: dict[str, Any]) -> web.StreamResponse:
        body = read_json_body(ctx.body)
        source = body.get("source") or {}
        if not source.get("sourceImage") or not (
            source.get("resourceId") or source.get("registryUri")
        ):
            raise AzureError(
                400,
                "InvalidParameters",
                "source.sourceImage and one of "
                "source.resourceId or source.registryUri are required.",
            )
        if ctx.emu.read_services().get("registry"):
            await import_image(ctx.emu, ctx.claims, resource, body)
        imports = ctx.section("registry_imports").setdefault(resource["id"].lower(), [])
        imports.append(
            {
                "source": source,
                "targetTags": body.get("targetTags") or [],
                "mode": body.get("mode", "NoForce"),
                "at": now_iso(),
            }
        )
        ctx.touch()
        return web.Response(status=202)

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        data = ctx.section("registries").get(resource["name"].lower())
        if data is not None:
            data.pop("resource_id", None)


register(RegistryProvider())
