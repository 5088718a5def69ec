from atg_dataplane import hookimpl


@hookimpl
def dataplane_resource_types() -> list[str]:
    return ["Contoso.Bad/types"]
