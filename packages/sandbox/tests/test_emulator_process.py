"""``python -m atg_dataplane_sandbox.emulator``: emulator.json, SIGTERM, state across restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential, vault_kwargs
from atg_dataplane_sandbox.topology import load_topology
from azure.keyvault.secrets import SecretClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from vault_testing import create_vault


def _start(directory: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    info_path = directory / "emulator.json"
    info_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "atg_dataplane_sandbox.emulator", "--dir", str(directory)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    deadline = time.monotonic() + 30
    while not info_path.exists():
        assert process.poll() is None, "emulator exited early"
        assert time.monotonic() < deadline, "emulator.json never appeared"
        time.sleep(0.05)
    return process, json.loads(info_path.read_text())


def _handle(directory: Path, info: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        directory=directory,
        entra_url=info["entra"],
        arm_url=info["arm"],
        ca_path=directory / "ca.pem",
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


def test_process_lifecycle_and_restart(tmp_path: Path) -> None:
    process, info = _start(tmp_path)
    try:
        assert info["pid"] == process.pid
        assert set(info) >= {"entra", "arm", "keyvault", "faults_url"}
        handle = _handle(tmp_path, info)
        url = create_vault(handle, load_topology(tmp_path), "source", "rg-proc", "kv-proc")
        cred = credential(handle, "source", "admin")
        SecretClient(url, cred, **vault_kwargs(handle)).set_secret("kept", "across restarts")
        info = json.loads((tmp_path / "emulator.json").read_text())
        assert info["keyvault"]["kv-proc"] == url.rstrip("/")
    finally:
        _stop(process)
    assert not (tmp_path / "emulator.json").exists()
    process, info = _start(tmp_path)
    try:
        assert info["keyvault"]["kv-proc"] == url.rstrip("/")  # same port again
        handle = _handle(tmp_path, info)
        client = SecretClient(url, credential(handle, "source", "admin"), **vault_kwargs(handle))
        assert client.get_secret("kept").value == "across restarts"
    finally:
        _stop(process)
    state = tmp_path / "emulator-state" / "state.json"
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert "across restarts" not in (tmp_path / "topology.json").read_text()


def test_modules_import_in_any_order() -> None:
    modules = ("topology", "emulator", "emulator.host", "emulator.common.context", "certs")
    for first in (*modules, "builtin_roles"):
        code = f"import atg_dataplane_sandbox.{first}; import atg_dataplane_sandbox.topology"
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert result.returncode == 0, result.stderr


def test_vault_moves_when_its_port_is_taken(tmp_path: Path) -> None:
    import socket

    from atg_dataplane_sandbox.emulator import start_emulator

    handle = start_emulator(tmp_path)
    src = load_topology(tmp_path).tenant("source")
    cred = credential(handle, "source", "admin")
    ResourceManagementClient(
        cred, src.subscription_id, **arm_kwargs(handle)
    ).resource_groups.create_or_update("rg-move", {"location": "eastus"})
    kv = KeyVaultManagementClient(cred, src.subscription_id, **arm_kwargs(handle))
    body = {
        "location": "eastus",
        "properties": {"tenantId": src.tenant_id, "sku": {"family": "A", "name": "standard"}},
    }
    old = kv.vaults.begin_create_or_update("rg-move", "kv-move", body).result()
    handle.stop()
    port = int(old.properties.vault_uri.rstrip("/").rsplit(":", 1)[1])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        handle = start_emulator(tmp_path)
        try:
            kv = KeyVaultManagementClient(
                credential(handle, "source", "admin"), src.subscription_id, **arm_kwargs(handle)
            )
            moved = kv.vaults.get("rg-move", "kv-move").properties.vault_uri
            assert moved != old.properties.vault_uri
            assert moved.rstrip("/") == handle.vault_urls["kv-move"]
        finally:
            handle.stop()
