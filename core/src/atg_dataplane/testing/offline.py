"""A binding that needs no tenant: for unit tests of a plugin's pure logic around other
resources (which vault a reference names), with what ARM would have listed given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from atg_dataplane.clouds import AZURE_PUBLIC
from atg_dataplane.context import ResourceBinding, SideContext
from atg_dataplane.counterparts import Endpoint, Kind
from atg_dataplane.models import AzureResource


def offline_binding(
    side: str,
    resource_type: str,
    endpoints: Mapping[Kind, Sequence[Endpoint]],
    names: Mapping[str, str] | None = None,
) -> ResourceBinding:
    """A binding of a resource of ``resource_type`` on ``side`` (``source``/``target``)
    whose counterparts listing is ``endpoints``, and ``[mapping.names]`` is ``names``.
    Any call to Azure through it fails: its credential is no credential."""
    context = SideContext(
        side=side,  # type: ignore[arg-type]
        tenant_id=side,
        subscription_id=side,
        credential=object(),
        cloud=AZURE_PUBLIC,
        names=dict(names or {}),
    )
    for kind, found in endpoints.items():  # what ARM listed, once per side and run
        context.cached_client(f"counterparts:{kind.resource_type}", lambda f=found: list(f))
    rid = f"/subscriptions/{side}/resourceGroups/g/providers/{resource_type}/resource"
    return ResourceBinding(AzureResource(id=rid, type=resource_type, name="resource"), context)
