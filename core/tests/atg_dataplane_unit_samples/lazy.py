"""A plugin whose SDK-backed module, named with ``deferred``, cannot be imported."""

from __future__ import annotations

from atg_dataplane import ResourceTypeSpec, deferred, hookimpl

RESOURCE_TYPE = "Contoso.Lazy/things"
sdk = deferred("atg_dataplane_unit_samples.not_installed_sdk")


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [ResourceTypeSpec(resource_type=RESOURCE_TYPE, item_kinds=("thing",))]
