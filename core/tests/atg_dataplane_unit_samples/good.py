"""A complete, well-behaved plugin serving Contoso.Alpha/things."""

from __future__ import annotations

from collections.abc import Iterator

import click
from atg_dataplane import (
    DataPlaneItem,
    ItemOutcome,
    Permission,
    ReplicationMode,
    ResourceTypeSpec,
    hookimpl,
)

RESOURCE_TYPE = "Contoso.Alpha/things"


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [ResourceTypeSpec(resource_type=RESOURCE_TYPE, item_kinds=("thing",))]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return [
        Permission(scope="resource", side="source", actions=("Contoso.Alpha/things/read",)),
        Permission(scope="resource", side="target", actions=("Contoso.Alpha/things/write",)),
    ]


@hookimpl
def dataplane_discover(resource: object) -> Iterator[DataPlaneItem]:
    yield DataPlaneItem(name="a", kind="thing", source_resource_id=str(resource))


@hookimpl
def dataplane_replicate_item(item: DataPlaneItem) -> ItemOutcome:
    return ItemOutcome(status="unchanged")


@hookimpl
def dataplane_register_commands(cli: click.Group) -> None:
    @cli.command("alpha-hello")
    def alpha_hello() -> None:
        click.echo("hello from alpha")
