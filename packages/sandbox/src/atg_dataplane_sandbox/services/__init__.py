"""The real emulators (Azurite, a Cosmos DB server, an OCI registry): start, check, stop.

``start_services`` returns the content of ``services.json`` (see CONTRACT.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atg_dataplane_sandbox.services import azurite, cosmos, process, registry
from atg_dataplane_sandbox.services.accounts import PoolSizes
from atg_dataplane_sandbox.services.install import MissingEmulator, missing_emulators
from atg_dataplane_sandbox.services.layout import SandboxLayout, cache_dir

SERVICE_MODULES = {"azurite": azurite, "cosmos": cosmos, "registry": registry}
"""services.json key -> module with ``start``, ``wait_healthy``, ``healthy`` and ``NAME``."""

__all__ = [
    "SERVICE_MODULES",
    "MissingEmulator",
    "PoolSizes",
    "SandboxLayout",
    "cache_dir",
    "missing_emulators",
    "services_healthy",
    "start_services",
    "stop_services",
]


def start_services(
    layout: SandboxLayout, pools: PoolSizes | None = None, cache: Path | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Start every real emulator (certs must exist) and wait until each answers over TLS."""
    pools = pools or PoolSizes()
    info: dict[str, Any] = {}
    try:
        # Cosmos first: it binds port 0 and reports its ports, so it cannot take a port
        # picked (free, then released) for Azurite or the registry before they bind it.
        info["cosmos"] = cosmos.start(layout, pools.cosmos, cache)
        info["azurite"] = azurite.start(layout, pools.storage, cache)
        info["registry"] = registry.start(layout)
        for key, module in SERVICE_MODULES.items():
            if not module.wait_healthy(layout, info[key], timeout):
                raise RuntimeError(
                    f"{key} did not become healthy in {timeout:.0f} s; "
                    f"see {layout.log_file(module.NAME)}"
                )
    except BaseException:
        stop_services(layout)
        raise
    return info


def services_healthy(layout: SandboxLayout, info: dict[str, Any]) -> dict[str, bool]:
    return {
        key: key in info and module.healthy(layout, info[key])
        for key, module in SERVICE_MODULES.items()
    }


def stop_services(layout: SandboxLayout) -> list[str]:
    """Stop every real emulator; return the names of those that were running."""
    return [
        module.NAME for module in SERVICE_MODULES.values() if process.stop(layout, module.NAME)
    ]
