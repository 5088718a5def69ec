"""Declares permissions for the source side only, and repeats an item kind."""

from atg_dataplane import Permission, ReplicationMode, ResourceTypeSpec, hookimpl


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [ResourceTypeSpec(resource_type="Contoso.One/sided", item_kinds=("a", "a"))]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return [Permission(scope="resource", side="source", actions=("Contoso.One/sided/read",))]
