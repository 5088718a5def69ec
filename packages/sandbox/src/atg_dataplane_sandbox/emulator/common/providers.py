"""What a resource provider module supplies; adding a provider is one small module.

A provider handles one resource type (``Microsoft.KeyVault/vaults``). The router stores the
resources, checks RBAC and pages lists; the provider shapes the resource on PUT, answers its
POST actions and any child paths, and may make PUT/POST long-running.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import ArmContext

Action = Callable[[ArmContext, dict[str, Any]], Awaitable[Any]]
"""A POST action: its response, or for a long-running one (``lro_actions``) its result
(a dict the operation's ``Location`` answers with at the end, or None)."""


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
    """Actions answered as long-running operations (202 + ``Location``, which answers with
    the action's result when it returned one)."""

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


# -- nested resource types, declared as data -------------------------------------------
Item = dict[str, Any]
Shape = Callable[[ArmContext, Item, "Item | None", dict[str, Any]], dict[str, Any]]
"""``(ctx, parent, stored item or None, properties of the request) -> properties to store``;
validates (raising :class:`AzureError` as Azure would) and fills server-side fields."""
Builtins = Callable[[ArmContext, dict[str, Any]], list[dict[str, Any]]]
"""``(ctx, parent) -> items`` that exist without a PUT and cannot be changed (built-ins)."""


@dataclass(frozen=True)
class ChildType:
    """A nested ARM resource type: ``{parent id}/{name}/{item}``, served by the ARM router's
    resource tree (``emulator/arm/tree.py``) from this declaration alone: list (paged, with
    ``nextLink``), GET/HEAD, PUT, PATCH, DELETE, the secret's ``list*`` action; RBAC action
    per verb derived from the type (``{type}/read|write|delete``, ``{type}/{action}/action``);
    its items deleted with their parent. Hooks only where the service does something special.
    """

    parent: str
    """Full type of the parent (``Microsoft.ApiManagement/service``, or a child's type)."""
    name: str
    """Path segment below the parent, as the REST API spells it (``namedValues``)."""
    api_versions: tuple[str, ...] = ()
    """The api-versions accepted (any when empty), as the service's specifications list."""
    secrets: tuple[str, ...] = ()
    """Properties stored but never returned by GET, list or PUT."""
    hide_secrets: Callable[[dict[str, Any]], bool] | None = None
    """``(properties) -> bool``: whether this item's ``secrets`` are hidden (always when
    None); APIM hides a named value's ``value`` only while it is ``secret``."""
    reveal: str = ""
    """The POST action below an item that returns ``secrets`` (``listValue``), if any."""
    private: frozenset[str] = frozenset()
    """Names (lower case) of items whose properties are all secret: GET shows none of them,
    and ``reveal`` answers with the whole item (Microsoft.Web's ``config/appsettings``,
    read through ``config/appsettings/list``)."""
    lro: str = ""
    """PUT and DELETE: ``""`` answer at once (200/201), ``"async"`` 202 +
    ``Azure-AsyncOperation`` (+ ``Location``), ``"location"`` 202 + ``Location`` only."""
    created_status: int = 201
    """Status of a PUT that created the item (Microsoft.Web answers 200, as Azure does)."""
    lro_status: int = 202
    """First answer of a long-running PUT: 202 without a body, or (APIM's schemas) 201
    with the item as stored so far and the same polling headers."""
    delete_lro: str | None = None
    """DELETE's style when it differs from PUT's (an APIM API: created at once, deleted with
    202 + ``Location``); None: as ``lro``."""
    etag: bool = False
    """Items carry an ``ETag`` (header and ``etag`` field); ``If-Match`` and
    ``If-None-Match`` are honoured (412 ``PreconditionFailed`` otherwise)."""
    one_page: bool = False
    """Lists answer in one page: the service sends no ``nextLink`` and its SDK follows none."""
    names: tuple[str, ...] = ()
    """For singletons (``default``): the only item names allowed."""
    section: str = "arm_children"
    """Store section holding the items (lower-case id -> item)."""
    shape: Shape | None = None
    builtins: Builtins | None = None
    empty_body: bool = False
    """A PUT may come without a body (a link, as a product's API)."""
    head_status: int = 200
    """Status of HEAD on an item that exists (APIM answers its links' HEAD with 204)."""
    on_delete: Callable[[ArmContext, Item], None] | None = None
    """What the service also removes when an item goes (an API's links from products)."""
    read_only: frozenset[str] = frozenset()
    """Names of ``builtins`` items: a PUT or DELETE on them is refused (400)."""

    @property
    def full_type(self) -> str:
        return f"{self.parent}/{self.name}"

    @property
    def namespace(self) -> str:
        return self.parent.split("/", 1)[0]


_CHILDREN: dict[tuple[str, str], ChildType] = {}


def declare(child: ChildType) -> ChildType:
    key = (child.parent.lower(), child.name.lower())
    if key in _CHILDREN:
        raise ValueError(f"resource type {child.full_type} declared twice")
    _CHILDREN[key] = child
    return child


def child_type(parent_type: str, segment: str) -> ChildType | None:
    return _CHILDREN.get((parent_type.lower(), segment.lower()))


def children_of(parent_type: str) -> list[ChildType]:
    """Every declared type directly below ``parent_type``."""
    return [c for (parent, _), c in _CHILDREN.items() if parent == parent_type.lower()]


def all_children() -> list[ChildType]:
    return list(_CHILDREN.values())
