"""Start, inspect and stop a whole sandbox: real emulators + our emulator + config.json.

``up`` is idempotent: when every recorded process still runs and answers, it
returns the running sandbox; when only some do, it stops them and starts afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# emulator before topology: importing topology first runs into an import cycle
# (topology -> emulator.builtin_roles -> emulator/__init__ -> context -> topology).
import atg_dataplane_sandbox.emulator  # noqa: F401
from atg_dataplane_sandbox import certs, topology
from atg_dataplane_sandbox.emulator import forget_vault_challenges
from atg_dataplane_sandbox.replication_config import build_config, renew_config
from atg_dataplane_sandbox.services import (
    SERVICE_MODULES,
    MissingEmulator,
    PoolSizes,
    SandboxLayout,
    missing_emulators,
    net,
    process,
    services_healthy,
    start_services,
    stop_services,
)

EMULATOR = "emulator"
EMULATOR_MODULE = "atg_dataplane_sandbox.emulator"
DEFAULT_DIR = ".sandbox"
UP_TIMEOUT = 60.0
START_ATTEMPTS = 3
ADMIN_HEADER = "X-Sandbox-Admin-Key"


class SandboxError(RuntimeError):
    """The sandbox could not be started or inspected; the message says why and what to do."""


class EmulatorsMissing(SandboxError):
    def __init__(self, missing: list[MissingEmulator]) -> None:
        self.missing = missing
        super().__init__("missing emulators: " + "; ".join(str(m) for m in missing))


@dataclass(frozen=True)
class SandboxInfo:
    dir: Path
    config_path: Path
    ca_bundle: Path
    services: dict[str, str]
    """Flat name -> URL of every endpoint (``storage-blob`` and ``cosmos/<account>`` (the
    fault-injecting proxies), ``azurite-blob`` and ``cosmos-server/<account>`` (the real
    emulators behind them; ``cosmos-server/*`` and ``registry`` take only the sandbox's
    upstream secret, see CONTRACT.md), ``arm``, ...)."""
    services_json: dict[str, Any] = field(repr=False)
    emulator_json: dict[str, Any] = field(repr=False)
    pids: dict[str, int] = field(default_factory=dict)
    reused: bool = False
    """True when ``up`` found the sandbox already running."""

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": str(self.dir),
            "config": str(self.config_path),
            "ca_bundle": str(self.ca_bundle),
            "services": self.services,
            "pids": self.pids,
            "reused": self.reused,
        }


@dataclass(frozen=True)
class SandboxStatus:
    dir: Path
    processes: dict[str, int | None]
    """Process name -> pid if it runs, None if it does not."""
    healthy: dict[str, bool]
    services: dict[str, str]

    @property
    def state(self) -> str:
        """``running`` (all up and healthy), ``stopped`` (nothing runs) or ``degraded``."""
        alive = [pid for pid in self.processes.values() if pid is not None]
        if not alive:
            return "stopped"
        if len(alive) == len(self.processes) and all(self.healthy.values()):
            return "running"
        return "degraded"

    def to_json(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "state": self.state, "processes": self.processes,
                "healthy": self.healthy, "services": self.services}


def emulator_available() -> bool:
    try:
        return importlib.util.find_spec(EMULATOR_MODULE + ".__main__") is not None
    except ModuleNotFoundError:
        return False


def check_installed() -> list[MissingEmulator]:
    """Everything missing for ``up``, each with the exact command that installs it."""
    missing = missing_emulators()
    if not emulator_available():
        missing.append(MissingEmulator(
            EMULATOR_MODULE, "the Python emulator module is not importable",
            f"{sys.executable} -m pip install atg-dataplane-sandbox"))
    return missing


@contextlib.contextmanager
def _locked(layout: SandboxLayout) -> Iterator[None]:
    """Serialise up/down on one directory (two test workers may share it)."""
    layout.make_dirs()
    with open(layout.root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def flatten_services(services: dict[str, Any], emulator: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    azurite = services.get("azurite", {})
    for kind in ("blob", "queue", "table"):
        if kind in azurite:
            flat[f"azurite-{kind}"] = azurite[kind]
    for name, account in services.get("cosmos", {}).get("accounts", {}).items():
        flat[f"cosmos-server/{name}"] = account["endpoint"]
    if "registry" in services:
        flat["registry"] = services["registry"]["upstream"]
    for key in ("entra", "arm", "file", "faults_url"):
        if isinstance(emulator.get(key), str):
            flat[key] = emulator[key]
    # What storage clients should use (ARM's primaryEndpoints point there too): the
    # emulator's fault-injecting proxies in front of Azurite (``azurite-*``, for debugging);
    # likewise ``cosmos/<account>`` (below) in front of ``cosmos-server/<account>``.
    proxies = emulator.get("storage")
    if isinstance(proxies, dict):
        for kind, url in proxies.items():
            if isinstance(url, str):
                flat[f"storage-{kind}"] = url
    for group in ("keyvault", "acr", "cosmos"):
        entries = emulator.get(group)
        if isinstance(entries, dict):
            for name, url in entries.items():
                if isinstance(url, str):
                    flat[f"{group}/{name}"] = url
        elif isinstance(entries, str):
            flat[group] = entries
    return flat


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _process_names() -> list[str]:
    return [module.NAME for module in SERVICE_MODULES.values()] + [EMULATOR]


def status(directory: str | Path = DEFAULT_DIR) -> SandboxStatus:
    layout = SandboxLayout(directory)
    services = _read_json(layout.services_json)
    emulator = _read_json(layout.emulator_json)
    processes = {name: process.running_pid(layout, name) for name in _process_names()}
    healthy = services_healthy(layout, services) if services else {
        key: False for key in SERVICE_MODULES}
    healthy[EMULATOR] = bool(
        processes[EMULATOR] and emulator.get("arm")
        and net.https_status(emulator["arm"] + "/", layout.ca) is not None
    )
    return SandboxStatus(layout.root, processes, healthy, flatten_services(services, emulator))


def _info(layout: SandboxLayout, reused: bool) -> SandboxInfo:
    services = _read_json(layout.services_json)
    emulator = _read_json(layout.emulator_json)
    pids = {name: pid for name in _process_names()
            if (pid := process.running_pid(layout, name)) is not None}
    return SandboxInfo(layout.root, layout.config_json, layout.ca,
                       flatten_services(services, emulator), services, emulator, pids, reused)


def up(
    directory: str | Path = DEFAULT_DIR,
    faults: str | None = None,
    pools: PoolSizes | None = None,
    timeout: float = UP_TIMEOUT,
) -> SandboxInfo:
    """Start the sandbox in ``directory`` (or return the running one) and write config.json."""
    layout = SandboxLayout(directory)
    missing = check_installed()
    if missing:
        raise EmulatorsMissing(missing)
    with _locked(layout):
        current = status(layout.root)
        if current.state == "running" and layout.config_json.is_file():
            if faults is not None:
                set_faults(layout.root, faults)
            return _info(layout, reused=True)
        if current.state != "stopped":
            _down(layout)
        deadline = time.monotonic() + timeout
        certs.ensure_certs(layout.root)
        topo = topology.ensure_topology(layout.root)
        for attempt in range(START_ATTEMPTS):
            try:
                services = start_services(layout, pools, timeout=timeout)
                _write_json(layout.services_json, services)
                emulator = _start_emulator(layout, faults, deadline)
                renew_config(layout.config_json, build_config(topo, emulator, services))
                forget_vault_challenges()
                return _info(layout, reused=False)
            except (RuntimeError, SandboxError) as error:
                _down(layout)
                # Free ports are picked before the emulators bind them: another process
                # may take one in between. Pick new ones and try again.
                if attempt + 1 == START_ATTEMPTS or not _port_taken(layout, error):
                    raise
            except BaseException:
                _down(layout)
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")


def _port_taken(layout: SandboxLayout, error: Exception) -> bool:
    logs = [str(error)] + [
        path.read_text(errors="replace")[-4000:] for path in layout.root.glob("logs/*.log")
    ]
    return any("EADDRINUSE" in text or "address already in use" in text for text in logs)


def _start_emulator(layout: SandboxLayout, faults: str | None, deadline: float) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError):
        layout.emulator_json.unlink()
    argv = [sys.executable, "-m", EMULATOR_MODULE, "--dir", str(layout.root)]
    if faults:
        argv += ["--faults", faults]
    pid = process.start(layout, EMULATOR, argv)
    while time.monotonic() < deadline:
        emulator = _read_json(layout.emulator_json)
        # Only the child's exit is final: a liveness check by command line can miss a
        # process that is still starting (seen as rare start failures under load).
        if emulator.get("arm") and emulator.get("entra"):
            alive = lambda: process.exit_code(pid) is None  # noqa: E731
            remaining = max(deadline - time.monotonic(), 1.0)
            if net.wait_https(emulator["arm"] + "/", layout.ca, remaining, alive):
                return emulator
            break
        if process.exit_code(pid) is not None:
            break
        time.sleep(0.05)
    code = process.exit_code(pid)
    how = f"exited with status {code}" if code is not None else "did not answer in time"
    last = process.log_tail(layout, EMULATOR)
    raise SandboxError(f"the emulator {how}" + (f" ({last})" if last else "")
                       + f"; see {layout.log_file(EMULATOR)}")


def set_faults(directory: str | Path, spec: str) -> dict[str, Any]:
    """Replace the running emulator's fault spec (``""`` clears it); return its answer."""
    layout = SandboxLayout(directory)
    emulator = _read_json(layout.emulator_json)
    if not emulator.get("faults_url"):
        raise SandboxError(f"no running emulator in {layout.root}")
    key_file = layout.root / str(emulator.get("admin_key_file", "secrets/emulator-admin"))
    request = urllib.request.Request(
        emulator["faults_url"], method="POST", data=json.dumps({"spec": spec}).encode(),
        headers={ADMIN_HEADER: key_file.read_text().strip(),
                 "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=str(layout.ca))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:300]
        raise SandboxError(f"the emulator refused the fault spec {spec!r}: {detail}") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _down(layout: SandboxLayout) -> list[str]:
    stopped = []
    if process.stop(layout, EMULATOR):
        stopped.append(EMULATOR)
    stopped += stop_services(layout)
    with contextlib.suppress(FileNotFoundError):
        layout.emulator_json.unlink()
    return stopped


def down(directory: str | Path = DEFAULT_DIR) -> list[str]:
    """Stop every process of the sandbox; return the names of those that were running.

    Everything stays in the directory for the next ``up``: Azurite's and the registry's
    data, the emulator's state (ARM, Key Vault, Azure Files), the Cosmos DB server's
    (saved as it stops), topology and certificates.
    """
    layout = SandboxLayout(directory)
    if not layout.root.is_dir():
        return []
    with _locked(layout):
        return _down(layout)
