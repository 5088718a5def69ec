"""An in-memory plugin for testing the engine's own logic (ordering, resume,
failures, progress). It stands in for no Azure client: the engine is the
unit under test, and it only ever talks to plugins through hooks."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    ItemError,
    ItemOutcome,
    Permission,
    ResourceBinding,
    ResourceTypeSpec,
    SideContext,
    hookimpl,
    is_settling,
)
from atg_dataplane.clouds import AZURE_PUBLIC
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.models import AzureResource
from atg_dataplane.plugins import PluginHost, new_plugin_manager
from azure.core.exceptions import HttpResponseError, ServiceResponseError

TYPE = "Contoso.Widgets/widgets"
SPEC = ResourceTypeSpec(resource_type=TYPE, item_kinds=("widget",), max_concurrency_per_resource=2)


class WidgetStore:
    """Both tenants' widgets: {resource id: {name: [versions...]}}."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.lock = threading.Lock()
        self.active: dict[str, int] = defaultdict(int)
        self.max_active: dict[str, int] = defaultdict(int)
        self.fail_names: set[str] = set()
        self.fail_versions: set[tuple[str, int]] = set()
        self.fail_discovery: set[str] = set()
        self.warning = ""
        self.delay = 0.0
        self.writes = 0
        self.lose_answers: dict[str, int] = {}
        """Name -> writes whose answer is lost after they were applied (then they raise)."""
        self.refuse: dict[str, int] = {}
        """Name -> calls refused with a 503 before anything is written."""
        self.flaky_discovery: dict[str, int] = {}
        """Resource name -> listings broken off (a dropped connection) after two items."""
        self.settling: list[tuple[str, bool]] = []
        """(name, is_settling()) of every replicate call."""
        self.unreadable: set[str] = set()
        """Names whose target copy cannot be read when verifying (fingerprints raise)."""
        self.recreated = False
        """Locked widgets are recreated in the target (not copyable, yet expected there)."""
        self.after: dict[str, tuple[str, ...]] = {}
        """Name -> names of the widgets it must be written after (``DataPlaneItem.after``)."""
        self.slow: dict[str, float] = {}
        """Name -> seconds its write takes."""
        self.written: list[str] = []
        """Names in the order their writes finished."""


class _Status:
    """Just enough of a response for an ``HttpResponseError`` to carry a status code."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "injected"
        self.headers: dict[str, str] = {}
        self.request = None

    def text(self) -> str:
        return ""


class WidgetPlugin:
    def __init__(self, store: WidgetStore) -> None:
        self.store = store

    @hookimpl
    def dataplane_resource_types(self) -> list[ResourceTypeSpec]:
        return [SPEC]

    @hookimpl
    def dataplane_permissions(self, resource_type: str, mode: Any) -> list[Permission]:
        return [
            Permission(scope="resource", side="source", actions=(f"{TYPE}/read",)),
            Permission(scope="resource", side="target", actions=(f"{TYPE}/write",)),
        ]

    @hookimpl
    def dataplane_discover(self, resource: ResourceBinding, options: Any) -> Any:
        all_versions = options.get("all_versions")
        if resource.resource.name in self.store.fail_discovery:
            raise ItemError("403 Forbidden: the firewall refused https://x/?sig=SECRETSIG")
        breaks = self.store.flaky_discovery.get(resource.resource.name, 0)
        for position, (name, versions) in enumerate(
            sorted(self.store.data[resource.resource.id].items())
        ):
            if position == 2 and breaks:
                self.store.flaky_discovery[resource.resource.name] = breaks - 1
                raise ServiceResponseError("Connection aborted (listing broken off)")
            if not versions:
                continue
            chosen = list(enumerate(versions)) if all_versions else [(0, versions[-1])]
            for order, value in chosen:
                yield DataPlaneItem(
                    name=name,
                    kind="widget",
                    source_resource_id=resource.resource.id,
                    properties={"length": len(value)},
                    version=f"v{order}" if all_versions else None,
                    order=order,
                    fingerprint=value,
                    copyable=not name.startswith("locked"),
                    not_copyable_reason="locked widgets cannot leave"
                    if name.startswith("locked")
                    else "",
                    recreated=self.store.recreated and name.startswith("locked"),
                    after=tuple(f"widget:{n}" for n in self.store.after.get(name, ())),
                )

    @hookimpl
    def dataplane_replicate_item(
        self, item: DataPlaneItem, source: ResourceBinding, target: ResourceBinding
    ) -> ItemOutcome:
        store = self.store
        tid = target.resource.id
        with store.lock:
            store.settling.append((item.name, is_settling()))
            if store.refuse.get(item.name):
                store.refuse[item.name] -= 1
                raise HttpResponseError(message="503 ServerBusy (injected)", response=_Status(503))
            store.active[tid] += 1
            store.max_active[tid] = max(store.max_active[tid], store.active[tid])
        try:
            if store.delay or item.name in store.slow:
                time.sleep(store.slow.get(item.name, store.delay))
            if item.name in store.fail_names or (item.name, item.order) in store.fail_versions:
                raise ItemError(f"widget {item.name} is broken", remedy="fix it")
            source_versions = store.data[source.resource.id][item.name]
            with store.lock:
                versions = store.data[tid][item.name]
                if item.version is None:  # current version only
                    if versions and versions[-1] == source_versions[-1]:
                        return ItemOutcome(status="unchanged")
                    value = source_versions[-1]
                else:
                    value = source_versions[item.order]
                    if len(versions) > item.order and versions[item.order] == value:
                        return ItemOutcome(status="unchanged")
                    if len(versions) != item.order:
                        raise ItemError(f"version {item.order} written out of order")
                versions.append(value)
                store.writes += 1
                if store.lose_answers.get(item.name):
                    store.lose_answers[item.name] -= 1
                    raise ServiceResponseError("Connection aborted (answer lost after the write)")
            warnings = (store.warning,) if store.warning else ()
            with store.lock:
                store.written.append(item.name)
            return ItemOutcome(status="replicated", bytes_copied=len(value), warnings=warnings)
        finally:
            with store.lock:
                store.active[tid] -= 1


class ReadingWidgetPlugin(WidgetPlugin):
    """Widgets whose contents verification reads from each side (a fingerprint hook)."""

    @hookimpl
    def dataplane_fingerprint(self, item: DataPlaneItem, resource: ResourceBinding) -> Any:
        if resource.side == "target" and item.name in self.store.unreadable:
            raise HttpResponseError(message="409 BlobArchived", response=_Status(409))
        versions = self.store.data[resource.resource.id][item.name]
        return versions[item.order if item.version else -1]


def make_host(store: WidgetStore, plugin_class: type[WidgetPlugin] | None = None) -> PluginHost:
    pm = new_plugin_manager()
    host = PluginHost(pm, [])
    from atg_dataplane.plugins import PluginRecord

    plugin = (plugin_class or WidgetPlugin)(store)
    pm.register(plugin, name="widgets")
    host.records.append(
        PluginRecord(name="widgets", distribution="test", version="0", value="engine_fixtures")
    )
    host.index_resource_types()
    return host


def side(name: str) -> SideContext:
    return SideContext(
        side=name,
        tenant_id=name,
        subscription_id=name,
        credential=None,  # type: ignore[arg-type]
        cloud=AZURE_PUBLIC,
    )


def pair(source_name: str = "w1", target_name: str | None = "w1") -> ResourcePair:
    src = AzureResource(
        id=f"/subscriptions/s/resourceGroups/rg/providers/{TYPE}/{source_name}",
        type=TYPE,
        name=source_name,
    )
    tgt = (
        AzureResource(
            id=f"/subscriptions/t/resourceGroups/rg/providers/{TYPE}/{target_name}",
            type=TYPE,
            name=target_name,
        )
        if target_name
        else None
    )
    return ResourcePair(
        source=ResourceBinding(src, side("source")),
        target=ResourceBinding(tgt, side("target")) if tgt else None,
        spec=SPEC,
        plugin="widgets",
        problem="" if tgt else f"no counterpart of {source_name}",
    )
