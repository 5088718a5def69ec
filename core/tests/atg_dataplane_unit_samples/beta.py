"""A second plugin, template mode only, with its own discovery."""

from __future__ import annotations

from collections.abc import Iterator

from atg_dataplane import (
    DataPlaneItem,
    Permission,
    ReplicationMode,
    ResourceTypeSpec,
    hookimpl,
)


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type="Contoso.Beta/widgets",
            item_kinds=("widget",),
            modes=(ReplicationMode.TEMPLATE,),
        ),
        ResourceTypeSpec(resource_type="Contoso.Beta/gadgets", item_kinds=("gadget",)),
    ]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return [
        Permission(scope="resource", side="source", data_actions=(f"{resource_type}/read",)),
        Permission(scope="resource", side="target", data_actions=(f"{resource_type}/write",)),
    ]


@hookimpl
def dataplane_discover(resource: object) -> Iterator[DataPlaneItem]:
    yield DataPlaneItem(name="b", kind="widget", source_resource_id=str(resource))
