"""Azurite (Blob, Queue, Table) over HTTPS with OAuth and a pool of accounts per tenant."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atg_dataplane_sandbox.services import install, net, process
from atg_dataplane_sandbox.services.accounts import account_key, pool
from atg_dataplane_sandbox.services.layout import SandboxLayout

NAME = "azurite"
SERVICES = ("blob", "queue", "table")

# --skipApiVersionCheck: required; azure-storage-blob 12.31 sends x-ms-version 2026-10-06,
#   which Azurite 3.35 rejects ("The API version ... is not supported by Azurite").
# --loose: ignore headers/parameters Azurite does not implement instead of failing.
# --silent: the access log would hold SAS signatures (secrets) in its URLs.
# --disableTelemetry: no network traffic from the sandbox.
FLAGS = ("--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry", "--oauth", "basic")


def entry_script(cache: Path | None = None) -> Path:
    package_dir = install.node_module_dir("azurite", cache)
    meta = json.loads((package_dir / "package.json").read_text())
    return package_dir / meta["bin"]["azurite"]


def start(
    layout: SandboxLayout, storage_per_tenant: int, cache: Path | None = None
) -> dict[str, Any]:
    """Start Azurite; return its ``services.json`` entry."""
    accounts = pool("store", storage_per_tenant)
    ports = {service: net.free_port() for service in SERVICES}
    data_dir = layout.root / "azurite"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [install.node_binary() or "node", str(entry_script(cache))]
    for service in SERVICES:
        argv += [f"--{service}Host", net.HOST, f"--{service}Port", str(ports[service])]
    argv += ["--location", str(data_dir), "--cert", str(layout.server_cert),
             "--key", str(layout.server_key), *FLAGS]
    env_accounts = ";".join(
        f"{name}:{account_key(layout, 'azurite', name)}" for name in accounts
    )
    # NODE_EXTRA_CA_CERTS: a copy from URL makes Azurite fetch the source over HTTPS from
    # itself; without trusting the sandbox CA, that fetch fails (500 InternalError).
    env = {"AZURITE_ACCOUNTS": env_accounts, "NODE_EXTRA_CA_CERTS": str(layout.ca)}
    process.start(layout, NAME, argv, env=env)
    info: dict[str, Any] = {
        service: f"https://{net.HOST}:{port}" for service, port in ports.items()
    }
    info["accounts"] = {name: {"tenant": tenant} for name, tenant in accounts.items()}
    return info


def _is_azurite(status: int, headers: Mapping[str, str]) -> bool:
    return headers.get("server", "").lower().startswith("azurite")


def wait_healthy(layout: SandboxLayout, info: dict[str, Any], timeout: float) -> bool:
    alive = lambda: process.running_pid(layout, NAME) is not None  # noqa: E731
    return all(
        net.wait_https(info[service] + "/", layout.ca, timeout, alive, _is_azurite)
        for service in SERVICES
    )


def healthy(layout: SandboxLayout, info: dict[str, Any]) -> bool:
    return process.running_pid(layout, NAME) is not None and all(
        net.answers(info[service] + "/", layout.ca, _is_azurite) for service in SERVICES
    )
