"""Cosmos DB (NoSQL): one @vercel/cosmosdb-server endpoint per account, in one node process.

The server keeps its data in memory and writes it to ``cosmos/state/<account>.json`` when it
stops (``sandbox down``), loading it back when it starts (``cosmos_server.js``). It takes any
account key, so it answers only requests that carry the sandbox's upstream secret
(:mod:`.upstream_auth`), which only the emulator's Cosmos DB proxies send.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from atg_dataplane_sandbox.services import install, net, process, upstream_auth
from atg_dataplane_sandbox.services.accounts import account_key, pool
from atg_dataplane_sandbox.services.layout import SandboxLayout

NAME = "cosmos"
SCRIPT = Path(__file__).with_name("cosmos_server.js")


def start(
    layout: SandboxLayout, cosmos_per_tenant: int, cache: Path | None = None
) -> dict[str, Any]:
    """Start the Cosmos DB servers; return the ``services.json`` entry (waits for the ports)."""
    accounts = pool("cosmos", cosmos_per_tenant)
    for name in accounts:
        # The server accepts any key; each account gets its own, which the proxies check.
        account_key(layout, "cosmos", name)
    run_dir = layout.root / "cosmos"
    run_dir.mkdir(parents=True, exist_ok=True)
    ready = run_dir / "ports.json"
    with suppress(FileNotFoundError):
        ready.unlink()
    config = {
        "module": str(install.node_module_dir("@vercel/cosmosdb-server", cache)),
        "host": net.HOST,
        "cert": str(layout.server_cert),
        "key": str(layout.server_key),
        "accounts": list(accounts),
        "ready_file": str(ready),
        "secret_file": str(upstream_auth.cosmos_secret_file(layout.root)),
        "secret_header": upstream_auth.COSMOS_HEADER,
        "state_dir": str(run_dir / "state"),
    }
    config_file = run_dir / "server-config.json"
    config_file.write_text(json.dumps(config, indent=2))
    process.start(layout, NAME, [install.node_binary() or "node", str(SCRIPT), str(config_file)])
    ports = _wait_ports(layout, ready, timeout=30.0)
    return {
        "accounts": {
            name: {"endpoint": f"https://{net.HOST}:{ports[name]}", "tenant": tenant}
            for name, tenant in accounts.items()
        }
    }


def _wait_ports(layout: SandboxLayout, ready: Path, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.is_file():
            return {str(k): int(v) for k, v in json.loads(ready.read_text()).items()}
        pid = process.read_pid(layout, NAME)
        # Only an exit is final: a liveness check by command line can miss a process
        # that is still starting.
        if pid is None or process.exit_code(pid) is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the Cosmos DB server did not start; see {layout.log_file(NAME)}")


def _endpoints(info: dict[str, Any]) -> list[str]:
    return [account["endpoint"] + "/" for account in info["accounts"].values()]


def _secret_header(layout: SandboxLayout) -> dict[str, str]:
    return {upstream_auth.COSMOS_HEADER: upstream_auth.cosmos_secret(layout.root)}


def wait_healthy(layout: SandboxLayout, info: dict[str, Any], timeout: float) -> bool:
    alive = lambda: process.running_pid(layout, NAME) is not None  # noqa: E731
    headers = _secret_header(layout)
    return all(net.wait_https(url, layout.ca, timeout, alive, _is_cosmos, headers)
               for url in _endpoints(info))


def _is_cosmos(status: int, headers: Mapping[str, str]) -> bool:
    # 200 only past the secret check: the server itself answered, not just its guard.
    return status == 200 and "x-ms-activity-id" in headers


def healthy(layout: SandboxLayout, info: dict[str, Any]) -> bool:
    headers = _secret_header(layout)
    return process.running_pid(layout, NAME) is not None and all(
        net.answers(url, layout.ca, _is_cosmos, headers=headers) for url in _endpoints(info)
    )
