"""``sandbox seed``: create a scenario's resources in both tenants and fill the source side.

Resources are created through the emulated ARM with azure-mgmt-* clients (as Terraform
would have created them: the target side stays empty); contents go in through the data-plane
SDKs. Seeding the same scenario again adds nothing that is already there.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import atg_dataplane_sandbox.emulator  # noqa: F401  (import cycle: see sandbox.py)
from atg_dataplane_sandbox import scenarios, topology
from atg_dataplane_sandbox.replication_config import (
    SOURCE_RESOURCE_GROUP,
    TARGET_RESOURCE_GROUP,
    add_name_mappings,
)
from atg_dataplane_sandbox.seeders import SEEDERS, SeedContext
from atg_dataplane_sandbox.seeders.context import CANARIES_FILE, CanaryRecord
from atg_dataplane_sandbox.services.layout import SandboxLayout

RESOURCE_GROUPS = {"source": SOURCE_RESOURCE_GROUP, "target": TARGET_RESOURCE_GROUP}
PARALLEL_RESOURCES = 4


class SeedError(RuntimeError):
    """Seeding failed; the message names the resource and the cause."""


@dataclass
class SeedReport:
    scenario: str
    scale: int
    counts: dict[str, int]
    """Items created per item kind (``secrets``, ``blobs``, ``documents``, ...)."""
    resources: list[dict[str, str]] = field(default_factory=list)
    """kind, source and target name of every resource."""
    seconds: float = 0.0
    canaries_file: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "scale": self.scale, "counts": self.counts,
                "resources": self.resources, "seconds": round(self.seconds, 2),
                "canaries_file": self.canaries_file}


def context(directory: str | Path) -> SeedContext:
    layout = SandboxLayout(directory)
    try:
        emulator = json.loads(layout.emulator_json.read_text())
    except (OSError, ValueError):
        raise SeedError(f"no running emulator in {layout.root}: run `atg-dataplane sandbox up`"
                        ) from None
    return SeedContext(
        directory=layout.root, ca_bundle=str(layout.ca), arm_url=emulator["arm"],
        entra_url=emulator["entra"], topology=topology.load_topology(layout.root),
        resource_groups=dict(RESOURCE_GROUPS),
        canaries=CanaryRecord(layout.root / CANARIES_FILE),
        services=json.loads(layout.services_json.read_text()),
    )


POOLS = {"storage": ("azurite", "storage", "--storage-accounts"),
         "cosmos": ("cosmos", "Cosmos DB", "--cosmos-accounts")}
"""Seed kind -> the services.json entry of its account pool, its name, and the flag of
``sandbox up`` that sizes it."""


def _check_pools(plan: scenarios.Scenario, services: dict[str, Any]) -> None:
    """Fail before anything is created when the running sandbox has too few accounts."""
    for kind, (service, label, flag) in POOLS.items():
        needed = plan.pool_accounts(kind)
        accounts = services.get(service, {}).get("accounts", {})
        have = sum(1 for name in accounts if name.startswith("src"))
        if needed > have:
            raise SeedError(
                f"scenario {plan.name} at scale {plan.scale} needs {needed} {label} accounts "
                f"per tenant and the sandbox has {have}: run `atg-dataplane sandbox down`, "
                f"then `atg-dataplane sandbox up {flag} {needed}`"
            )


def _ensure_resource_groups(ctx: SeedContext) -> None:
    try:  # azure-mgmt-resource >= 24 moved the client into a sub-package
        from azure.mgmt.resource.resources import ResourceManagementClient
    except ImportError:  # pragma: no cover - older azure-mgmt-resource
        from azure.mgmt.resource import (  # type: ignore[attr-defined,no-redef]
            ResourceManagementClient,
        )

    for side, name in ctx.resource_groups.items():
        client = ctx.mgmt(ResourceManagementClient, side)
        client.resource_groups.create_or_update(name, {"location": ctx.location(side),
                                                       "tags": {"sandbox": side}})


def seed(directory: str | Path, scenario: str = "reference", scale: int = 1) -> SeedReport:
    """Seed ``scenario`` (``reference`` or ``large`` x ``scale``) into the running sandbox."""
    started = time.monotonic()
    try:
        plan = scenarios.get(scenario, scale)
    except KeyError as exc:
        raise SeedError(str(exc.args[0])) from None
    ctx = context(directory)
    _check_pools(plan, ctx.services)
    _ensure_resource_groups(ctx)
    counts: Counter[str] = Counter()

    def run(spec: scenarios.ResourceSpec) -> dict[str, int]:
        try:
            return SEEDERS[spec.kind](ctx, spec)
        except Exception as exc:
            raise SeedError(f"seeding {spec.kind} {spec.source_name!r} failed: "
                            f"{type(exc).__name__}: {_first_line(exc)}") from exc

    try:
        with ThreadPoolExecutor(PARALLEL_RESOURCES) as pool:
            for result in pool.map(run, plan.resources):
                counts.update(result)
    finally:
        ctx.canaries.save()
    config = SandboxLayout(directory).config_json
    if config.is_file():
        add_name_mappings(config, {r.source_name: r.target_name for r in plan.resources})
    return SeedReport(
        scenario=scenario, scale=plan.scale, counts=dict(counts),
        resources=[{"kind": r.kind, "source": r.source_name, "target": r.target_name}
                   for r in plan.resources],
        seconds=time.monotonic() - started, canaries_file=str(ctx.canaries.path),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
