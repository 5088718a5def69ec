from atg_dataplane import ResourceTypeSpec, hookimpl


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [ResourceTypeSpec(resource_type="Contoso.Unknown/hooks", item_kinds=("hook",))]


@hookimpl
def dataplane_not_a_hook() -> None:
    pass


@hookimpl(specname="dataplane_also_not_a_hook")
def renamed() -> None:
    pass
