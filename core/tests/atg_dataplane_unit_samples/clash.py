"""Claims alpha's type (other case) plus a type nobody else serves."""

from atg_dataplane import ResourceTypeSpec, hookimpl


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(resource_type="contoso.alpha/THINGS", item_kinds=("thing",)),
        ResourceTypeSpec(resource_type="Contoso.Clash/only", item_kinds=("x",)),
    ]


@hookimpl
def dataplane_discover(resource: object) -> list[str]:
    return ["clash must never be asked"]
