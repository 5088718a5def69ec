"""Failures a user meets, end to end against a private sandbox: a principal
missing one data action, and bad input of every kind. Each gives a clear error
and a non-zero exit, and nothing is written into the target.

Covers issue 4's acceptance 3 and 4.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, start_private_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.topology import load_topology

    directory = tmp_path_factory.mktemp("e2e-errors")
    info = start_private_sandbox(directory)
    try:
        seed.seed(directory, "reference")
        config = json.loads(info.config_path.read_text())
        config["filters"]["types"] = ["Microsoft.KeyVault/vaults"]
        yield {"dir": directory, "config": config, "topology": load_topology(directory)}
    finally:
        sbx.down(directory)


def _write(world: dict[str, Any], name: str, config: dict[str, Any]) -> str:
    path = world["dir"] / name
    path.write_text(json.dumps(config))
    return str(path)


def _with_principal(world: dict[str, Any], side: str, principal: str) -> dict[str, Any]:
    config = json.loads(json.dumps(world["config"]))
    chosen = world["topology"].principal(side, principal)
    config[side]["credential"] = {
        "client_id": chosen.client_id,
        "client_secret_file": chosen.secret_file,
    }
    return config


def _target_is_empty(world: dict[str, Any]) -> None:
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    directory = world["dir"]
    emulator = json.loads((directory / "emulator.json").read_text())
    topology = world["topology"]
    admin = topology.principal("target", "replicator")
    ca = str(directory / "ca.pem")
    credential = ClientSecretCredential(
        topology.tenant("target").tenant_id,
        admin.client_id,
        topology.client_secret(admin),
        authority=emulator["entra"],
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    client = SecretClient(
        emulator["keyvault"]["kv-tgt-reference"],
        credential,
        verify_challenge_resource=False,
        connection_verify=ca,
    )
    assert list(client.list_properties_of_secrets()) == [], "something was written"


def _one_error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_data_action_fails_before_any_write(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = _write(world, "limited.json", _with_principal(world, "source", "limited"))
    check = cli("permissions", "--config", config, "--mode", "replication", check=3)
    assert "Microsoft.KeyVault/vaults/secrets/getSecret/action" in check.stdout
    assert "az role assignment create" in check.stdout
    as_json = cli(
        "permissions", "--config", config, "--mode", "replication", "-o", "json", check=3
    ).json()
    assert any(
        gap["name"] == "Microsoft.KeyVault/vaults/secrets/getSecret/action"
        and gap["side"] == "source"
        and gap["fix"].startswith("az role assignment create")
        for gap in as_json["missing"]
    )
    run = cli("replicate", "--config", config, "--mode", "replication", "--yes", check=3)
    assert "getSecret" in run.stdout and "Nothing was written" in run.stdout
    _target_is_empty(world)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("expired", "AADSTS7000222"),
        ("wrong-tenant", "credential"),
        ("malformed-id", "malformed resource id"),
        ("unknown-type", "unknown resource type 'Contoso.Nope/things'"),
        ("missing-target", "no counterpart of kv-src-reference"),
        ("no-config", "does not exist"),
        ("invalid-config", "not valid toml"),
        ("directory-config", "cannot read config file"),
        ("not-a-list-inventory", "must be a list of resources"),
    ],
)
def test_bad_input_is_one_clear_line(world: dict[str, Any], case: str, expected: str) -> None:
    cli = Cli(cwd=world["dir"])
    base = world["config"]
    extra: list[str] = []
    if case == "expired":
        config = _write(world, f"{case}.json", _with_principal(world, "target", "expired"))
    elif case == "wrong-tenant":
        wrong = json.loads(json.dumps(base))
        wrong["source"]["tenant_id"] = base["target"]["tenant_id"]
        config = _write(world, f"{case}.json", wrong)
    elif case == "malformed-id":
        inventory = world["dir"] / "inventory.json"
        inventory.write_text(
            json.dumps([{"id": "/subscriptions/x/vaults/kv", "type": "x/y", "name": "kv"}])
        )
        config = _write(world, f"{case}.json", base)
        extra = ["--inventory", str(inventory)]
    elif case == "not-a-list-inventory":
        inventory = world["dir"] / "inventory-bad.json"
        inventory.write_text(json.dumps({"hello": 1}))
        config = _write(world, f"{case}.json", base)
        extra = ["--inventory", str(inventory)]
    elif case == "unknown-type":
        config = _write(world, f"{case}.json", base)
        extra = ["--type", "Contoso.Nope/things"]
    elif case == "missing-target":
        mapped = json.loads(json.dumps(base))
        mapped["mapping"]["names"]["kv-src-reference"] = "kv-does-not-exist"
        config = _write(world, f"{case}.json", mapped)
    elif case == "no-config":
        config = str(world["dir"] / "nope.toml")
    elif case == "invalid-config":
        path = world["dir"] / "invalid.toml"
        path.write_text("[source\ntenant_id = ")
        config = str(path)
    else:
        directory = world["dir"] / "a-directory.json"
        directory.mkdir(exist_ok=True)
        config = str(directory)
    result = cli("replicate", "--config", config, "--mode", "replication", "--yes", *extra, check=2)
    line = _one_error_line(result)
    assert expected.lower() in line.lower(), line
    assert "Traceback" not in result.stderr
    _target_is_empty(world)


def test_secret_never_required_on_the_command_line(world: dict[str, Any], tmp_path: Path) -> None:
    cli = Cli(cwd=world["dir"])
    config = _write(world, "sp.json", world["config"])
    result = cli(
        "permissions",
        "--config",
        config,
        "--sp-client-id",
        world["topology"].principal("target", "replicator").client_id,
        check=2,
    )
    assert "--sp-client-secret-file or --sp-client-secret-env" in _one_error_line(result)
    replicator = world["topology"].principal("target", "replicator")
    ok = cli(
        "permissions",
        "--config",
        config,
        "--sp-client-id",
        replicator.client_id,
        "--sp-client-secret-file",
        str(world["dir"] / replicator.secret_file),
        "--sp-tenant-id",
        world["topology"].tenant("target").tenant_id,
    )
    assert "All permissions" in ok.stdout


def test_a_side_without_a_principal_uses_the_environment(world: dict[str, Any]) -> None:
    """DefaultAzureCredential (here: its environment variables) for the source, pinned to
    the source tenant; an explicit principal for the target."""
    config = json.loads(json.dumps(world["config"]))
    del config["source"]["credential"]
    path = _write(world, "env-source.json", config)
    replicator = world["topology"].principal("source", "replicator")
    emulator = json.loads((world["dir"] / "emulator.json").read_text())
    env = {
        "AZURE_CLIENT_ID": replicator.client_id,
        "AZURE_CLIENT_SECRET": world["topology"].client_secret(replicator),
        "AZURE_TENANT_ID": world["topology"].tenant("source").tenant_id,
        "AZURE_AUTHORITY_HOST": emulator["entra"],
    }
    ok = Cli(cwd=world["dir"])("permissions", "--config", path, "--mode", "template", env=env)
    assert "All permissions" in ok.stdout
