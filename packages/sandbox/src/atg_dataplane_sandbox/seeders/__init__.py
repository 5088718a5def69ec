"""Per-kind seeders: each creates the source resource (filled) and the target one (empty).

A seeder is ``seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]`` returning item
counts per item kind. Register a new one in :data:`SEEDERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from atg_dataplane_sandbox.scenarios import ResourceSpec
from atg_dataplane_sandbox.seeders import (
    apimanagement,
    appservice,
    compute,
    cosmos,
    keyvault,
    registry,
    sql,
    storage,
)
from atg_dataplane_sandbox.seeders.context import SeedContext

Seeder = Callable[[SeedContext, ResourceSpec], dict[str, int]]

SEEDERS: dict[str, Seeder] = {
    "keyvault": keyvault.seed,
    "storage": storage.seed,
    "cosmos": cosmos.seed,
    "registry": registry.seed,
    "apimanagement": apimanagement.seed,
    "appservice": appservice.seed,
    "compute": compute.seed,
    "sql": sql.seed,
}

__all__ = ["SEEDERS", "SeedContext", "Seeder"]
