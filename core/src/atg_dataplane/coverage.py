"""Coverage: every source resource that has a data plane is accounted for.

A resource whose type no installed plugin serves is not silently left out: ``plan``,
``replicate`` and ``verify`` list it with the package that serves it, and ``verify``
reports ``coverage`` (resources served by a plugin / resources found) beside fidelity.
Types with no data plane (a virtual network, a public IP) are not counted: only the types
below, and those an installed plugin serves, have one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DATA_PLANE_TYPES = {
    "Microsoft.KeyVault/vaults": "atg-dataplane-keyvault",
    "Microsoft.Storage/storageAccounts": "atg-dataplane-storage",
    "Microsoft.ContainerRegistry/registries": "atg-dataplane-containerregistry",
    "Microsoft.DocumentDB/databaseAccounts": "atg-dataplane-cosmosdb",
    "Microsoft.ApiManagement/service": "atg-dataplane-apimanagement",
    "Microsoft.Web/sites": "atg-dataplane-appservice",
    "Microsoft.Compute/virtualMachines": "atg-dataplane-compute",
    "Microsoft.Sql/servers/databases": "atg-dataplane-sql",
}
"""ARM types with a data plane, and the distribution that copies it."""
_BY_LOWER = {t.lower(): t for t in DATA_PLANE_TYPES}


def install_hint(resource_type: str) -> str:
    """``pip install <package>`` for a type with a known plugin, else a pointer to writing
    one."""
    package = DATA_PLANE_TYPES.get(_BY_LOWER.get(resource_type.lower(), ""))
    if package:
        return f"pip install {package}"
    return "no plugin is known for it: see docs/plugin-authors.md to write one"


def known_type(resource_type: str) -> str | None:
    """The spelling of a data-plane type (any case), or None for a type without one."""
    return _BY_LOWER.get(resource_type.lower())


@dataclass
class Coverage:
    """Source resources found, by type: served by a plugin, or not."""

    served: Counter[str] = field(default_factory=Counter)
    unserved: Counter[str] = field(default_factory=Counter)

    @property
    def found(self) -> int:
        return sum(self.served.values()) + sum(self.unserved.values())

    @property
    def percent(self) -> float:
        found = self.found
        return round(100.0 * sum(self.served.values()) / found, 2) if found else 100.0

    def message(self) -> str:
        """One line naming what has no plugin, with the install hints (empty if none)."""
        if not self.unserved:
            return ""
        count = sum(self.unserved.values())
        types = len(self.unserved)
        hints = "; ".join(
            f"{t} ({n}) -> {install_hint(t)}" for t, n in sorted(self.unserved.items())
        )
        resources = "resource" if count == 1 else "resources"
        kinds = "type" if types == 1 else "types"
        verb = "has" if count == 1 else "have"
        return f"{count} {resources} of {types} {kinds} {verb} no plugin installed: {hints}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "coverage": self.percent,
            "resources_found": self.found,
            "resources_served": sum(self.served.values()),
            "unserved": [
                {"type": t, "resources": n, "install": install_hint(t)}
                for t, n in sorted(self.unserved.items())
            ],
        }


def unserved_counts(types: Iterable[str], served: set[str]) -> Counter[str]:
    """Data-plane types among ``types`` (one entry per resource) that no plugin serves."""
    counts: Counter[str] = Counter()
    for resource_type in types:
        known = known_type(resource_type)
        if known is not None and known.lower() not in served:
            counts[known] += 1
    return counts
