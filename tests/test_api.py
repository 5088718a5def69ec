"""The Python API (``atg_dataplane.api``) end to end against a private sandbox, without the
command line, as Azure Tenant Grapher's ``deploy --dataplane`` calls it; and coverage: with
only the Key Vault plugin loaded, ``plan``, ``replicate`` and ``verify`` name the types no
plugin serves with the package to install (issue 14, acceptance 2 and 5)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane import api
from atg_dataplane.plugins import load_plugins
from e2e_helpers import Cli, seeded_sandbox

pytestmark = pytest.mark.sandbox
KEY_VAULT = "Microsoft.KeyVault/vaults"
ONLY_KEY_VAULT = {"ATG_DATAPLANE_PLUGINS": "keyvault"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_sandbox(tmp_path_factory.mktemp("api")) as found:
        yield found


def test_the_api_replicates_and_verifies_without_the_cli(world: dict[str, Any]) -> None:
    config = api.load_config(Path(world["config"]))
    config = api.with_overrides(config, types=(KEY_VAULT,))
    events: list[str] = []

    class Listener:
        @api.hookimpl
        def dataplane_progress(self, event: Any) -> None:
            events.append(event.type)

    runtime = api.connect(config)
    try:
        plan = api.plan(runtime, api.ReplicationMode.TEMPLATE)
        assert plan.items > 0 and {r["type"] for r in plan.resources} == {KEY_VAULT}
        permissions = api.check_permissions(runtime, api.ReplicationMode.TEMPLATE)
        assert permissions.ok, permissions.to_dict()
        run = api.replicate(runtime, api.ReplicationMode.TEMPLATE, progress=Listener())
        assert run.success and run.summary.result.failed == 0
        assert run.summary.result.replicated > 0
        assert "run_started" in events and "run_finished" in events
        again = api.replicate(runtime, api.ReplicationMode.TEMPLATE)
        assert again.success and again.summary.result.replicated == 0
        report = api.verify(runtime)  # the mode of the last finished run: template
        assert report.mode is api.ReplicationMode.TEMPLATE
        assert report.fidelity == 100.0 and api.verified(report)
        written = dict(api.terraform(runtime))
        assert written and all("resource" in text for text in written.values())
    finally:
        runtime.close()


def test_an_unknown_plugin_option_fails_before_any_request(tmp_path: Path) -> None:
    # Endpoints nobody listens on: a request would fail with a connection error instead.
    config = {
        "source": {"tenant_id": "t-src", "subscription_id": "s-src", "cloud": "nowhere"},
        "target": {"tenant_id": "t-tgt", "subscription_id": "s-tgt", "cloud": "nowhere"},
        "clouds": {
            "nowhere": {
                "authority_host": "https://127.0.0.1:9",
                "resource_manager": "https://127.0.0.1:9",
            }
        },
        "options": {"keyvault.no_such_option": True},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    host = load_plugins()
    with pytest.raises(api.ConfigError, match=r"keyvault\.no_such_option"):
        api.connect(path, host=host)


def test_only_the_key_vault_plugin_names_what_is_not_covered(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = str(world["config"])
    hint = "Microsoft.DocumentDB/databaseAccounts (1) -> pip install atg-dataplane-cosmosdb"
    plan = cli("plan", "--config", config, env=ONLY_KEY_VAULT)
    assert "have no plugin installed" in plan.stdout and hint in plan.stdout
    plan_json = cli("plan", "--config", config, "-o", "json", env=ONLY_KEY_VAULT).json()
    unserved = {u["type"]: u for u in plan_json["unserved"]}
    assert set(unserved) == {
        "Microsoft.Storage/storageAccounts",
        "Microsoft.ContainerRegistry/registries",
        "Microsoft.DocumentDB/databaseAccounts",
        "Microsoft.ApiManagement/service",
        "Microsoft.Web/sites",
        "Microsoft.Compute/virtualMachines",
    }
    assert unserved["Microsoft.Storage/storageAccounts"]["install"] == (
        "pip install atg-dataplane-storage"
    )
    run = cli("replicate", "--config", config, "--mode", "template", env=ONLY_KEY_VAULT)
    assert hint in run.stdout
    run_json = cli(
        "replicate", "--config", config, "--mode", "template", "-o", "json", env=ONLY_KEY_VAULT
    )
    last = json.loads(run_json.stdout.splitlines()[-1])  # the summary event
    assert last["event"] == "summary" and last["success"] is True
    assert last["coverage"] < 100.0 and last["unserved"]
    verify = cli("verify", "--config", config, env=ONLY_KEY_VAULT)  # exit 0: coverage is told
    assert hint in verify.stdout and "coverage" in verify.stdout
    report = cli("verify", "--config", config, "-o", "json", env=ONLY_KEY_VAULT).json()
    assert report["fidelity"] == 100.0
    assert 0 < report["coverage"] < 100.0
    assert report["resources_served"] < report["resources_found"]
    cli("verify", "--config", config, "--require-coverage", env=ONLY_KEY_VAULT, check=1)


def test_the_documented_deploy_integration_runs(world: dict[str, Any], tmp_path: Path) -> None:
    """docs/api.md's example, as written, against the sandbox."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict[str, Any] = {"CONFIG": world["config"], "IAC_DIR": tmp_path}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    assert namespace["ok"] is True
