"""Microsoft.ContainerRegistry/registries (create is a long-running operation, and so is
``importImage``). Imports are recorded; copying bytes is the registry front's job."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from atg_dataplane_sandbox.emulator.arm.common import ArmContext, now_iso, read_json_body
from atg_dataplane_sandbox.emulator.arm.providers.base import Provider, register
from atg_dataplane_sandbox.emulator.errors import AzureError


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


register(RegistryProvider())
