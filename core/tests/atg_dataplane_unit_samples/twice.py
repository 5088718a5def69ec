from atg_dataplane import ResourceTypeSpec, hookimpl


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(resource_type="Contoso.Twice/x", item_kinds=("a",)),
        ResourceTypeSpec(resource_type="contoso.twice/X", item_kinds=("b",)),
    ]
