"""One adapter per resource type the benchmark covers: the baseline loop, the ceiling's
minimal work, and fresh empty targets in the sandbox.

A resource type is benchmarked when an installed plugin serves it *and* an adapter
exists here; ``bench/run.py`` restricts ``atg-dataplane`` to the same types with
``filters.types``, so the three contenders always copy the same items.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Task:
    """One unit of the ceiling's timed work; ``run()`` returns payload bytes through the client."""

    kind: str
    name: str
    run: Callable[[], int]
    phase: int = 0
    """Tasks of a phase start after every task of the phase before (containers, phase -1,
    before their blobs)."""
    counted: bool = True
    """False for a unit finer than the tool's items (one document of a container): its
    payload counts, but it is not an item."""


class Adapter(Protocol):
    resource_type: str
    kinds: tuple[str, ...]
    server_side_kinds: tuple[str, ...]
    """Kinds whose content should move server-side (0 payload bytes through the client)."""

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        """Copy every item of ``pair`` one at a time: list, get from the source, set in the
        target (no concurrency, no server-side copy)."""

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        """Untimed discovery; the tasks are the least work any tool must do in the target."""

    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        """Empty target resources for one run: target name -> name to use instead."""

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        """Remove what ``fresh_targets`` made (keeps the emulator's state small)."""


def arm_client(client_class: type, resource: Any, side: Any, pool: int | None = None) -> Any:
    """An azure-mgmt-* client of the resource's subscription on ``side`` (the benchmark's
    credential, ARM endpoint and connection pool)."""
    return client_class(
        side.credential,
        str(resource.id).split("/")[2],
        base_url=side.arm["url"],
        credential_scopes=[side.arm["scope"]],
        **side.kwargs(pool),
    )


def where(resource: Any) -> tuple[str, str]:
    """``(resource group, name)`` of an ARM resource."""
    parts = str(resource.id).split("/")
    return parts[4], parts[-1]


MODULES = {
    "microsoft.apimanagement/service": "apimanagement",
    "microsoft.web/sites": "appservice",
    "microsoft.compute/virtualmachines": "compute",
    "microsoft.containerregistry/registries": "containerregistry",
    "microsoft.documentdb/databaseaccounts": "cosmosdb",
    "microsoft.keyvault/vaults": "keyvault",
    "microsoft.sql/servers": "sql",
    "microsoft.storage/storageaccounts": "storage",
}
"""Resource type (lower case) -> the adapter's module in this package."""


class _Adapters(Mapping[str, Adapter]):
    """The adapters by resource type, each module imported when first asked for: a run of
    one type does not import every other type's SDK (``atg-dataplane`` does not either)."""

    def __getitem__(self, rtype: str) -> Adapter:
        adapter: Adapter = importlib.import_module(f"adapters.{MODULES[rtype]}").ADAPTER
        assert adapter.resource_type.lower() == rtype, (rtype, adapter.resource_type)
        return adapter

    def __contains__(self, rtype: object) -> bool:
        return rtype in MODULES

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


ADAPTERS: Mapping[str, Adapter] = _Adapters()
