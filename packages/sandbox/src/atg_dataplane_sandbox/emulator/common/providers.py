"""What a resource provider module supplies; adding a provider is one small module.

A provider handles one resource type (``Microsoft.KeyVault/vaults``). The router stores the
resources, checks RBAC and pages lists; the provider shapes the resource on PUT, answers its
POST actions and any child paths, and may make PUT/POST long-running.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import ArmContext

Action = Callable[[ArmContext, dict[str, Any]], Awaitable[web.StreamResponse]]


class Provider:
    namespace: str = ""
    resource_type: str = ""
    lro_put: bool = False
    """Answer PUT with 201 + ``Azure-AsyncOperation`` (exercises ``begin_create_or_update``)."""
    created_status: int = 201
    """Status of a PUT that created the resource (Cosmos DB answers 200, as Azure does)."""
    location_lro: bool = False
    """LRO answered like Storage: 202, no body, ``Location`` only."""
    actions: dict[str, Action] = {}
    """POST ``{resource id}/{name}`` handlers, keyed by lower-case action name."""
    lro_actions: frozenset[str] = frozenset()
    """Actions answered as long-running operations (202 + ``Location``)."""

    @property
    def full_type(self) -> str:
        return f"{self.namespace}/{self.resource_type}"

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Shape the stored resource from the request (``resource`` has id/name/type/location/
        tags/properties from the body already); return it."""
        resource.setdefault("properties", {})["provisioningState"] = "Succeeded"
        return resource

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        return None

    def present(self, ctx: ArmContext, resource: dict[str, Any]) -> dict[str, Any]:
        return resource

    async def child(
        self, ctx: ArmContext, resource: dict[str, Any], rest: list[str]
    ) -> web.StreamResponse | None:
        """Paths below the resource other than actions, e.g. ``accessPolicies/add``."""
        return None

    async def subscription_path(
        self, ctx: ArmContext, rest: list[str]
    ) -> web.StreamResponse | None:
        """``/subscriptions/{s}/providers/{ns}/...`` paths other than list-by-subscription."""
        return None


_REGISTRY: dict[tuple[str, str], Provider] = {}


def register(provider: Provider) -> Provider:
    key = (provider.namespace.lower(), provider.resource_type.lower())
    if key in _REGISTRY:
        raise ValueError(f"provider {provider.full_type} registered twice")
    _REGISTRY[key] = provider
    return provider


def find(namespace: str, resource_type: str) -> Provider | None:
    return _REGISTRY.get((namespace.lower(), resource_type.lower()))


def by_namespace(namespace: str) -> list[Provider]:
    return [p for (ns, _), p in _REGISTRY.items() if ns == namespace.lower()]
