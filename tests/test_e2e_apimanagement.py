"""End to end, as a user types it: the API Management plugin through the CLI against a
private sandbox seeded with the reference service (APIs with operations, a released
revision, a schema and an imported API; policies at every scope naming named values, a
fragment and a backend; products, tags, a version set, a secret named value, a
subscription, a user and certificates). Issue 18's acceptance 1 and 2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import Cli, assert_no_canary, canaries, seeded_sandbox

pytestmark = pytest.mark.sandbox
APIM = "Microsoft.ApiManagement/service"
GROUP, SERVICE = "rg-target-data", "apim-tgt-reference"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_sandbox(tmp_path_factory.mktemp("e2e-apim"), APIM) as found:
        yield found


def _target(world: dict[str, Any]) -> Any:
    from atg_dataplane_sandbox import seed
    from azure.mgmt.apimanagement import ApiManagementClient

    return seed.context(world["dir"]).mgmt(ApiManagementClient, "target")


def test_api_management_through_the_cli(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    assert "apimanagement" in cli("plugins", "-o", "tsv", "--query", "[].name").stdout
    cli("permissions", "--config", config, "--mode", "replication")

    template = cli("replicate", "--config", config, "--mode", "template", "-o", "json")
    assert template.summary()["failed"] == 0
    verify = cli("verify", "--config", config, "--mode", "template", "-o", "json").json()
    assert verify["by_type"][APIM]["fidelity"] == 100.0, verify["items"]
    target = _target(world)
    assert target.named_value.list_value(GROUP, SERVICE, "backend-key").value.startswith(
        "atg-dataplane-template-placeholder"
    )
    assert target.subscription.list_secrets(GROUP, SERVICE, "product-0-sub").primary_key.startswith(
        "atg-dataplane-template-placeholder"
    )
    assert target.identity_provider.list_secrets(GROUP, SERVICE, "aad").client_secret.startswith(
        "atg-dataplane-template-placeholder"
    )

    run = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert run.summary()["failed"] == 0
    report = world["dir"] / "apim-report.html"
    verify = cli(
        "verify",
        "--config",
        config,
        "--mode",
        "replication",
        "--report",
        str(report),
        "-o",
        "json",
    ).json()
    kinds = verify["by_type"][APIM]["by_kind"]
    assert verify["fidelity"] == 100.0, verify["items"]
    seeded = dict(world["counts"])
    # what the service never gives back is reported, not copied: a password, a PFX
    assert kinds.pop("user") == {"not_copyable": seeded.pop("user")}
    assert kinds.pop("certificate") == {"matching": 1, "not_copyable": 1}
    # an external group and its member name the source tenant's directory
    for kind in ("group", "group_user"):
        assert kinds.pop(kind) == {"matching": seeded.pop(kind) - 1, "not_copyable": 1}
    assert {kind: kinds[kind] for kind in seeded if kind in kinds} == {
        kind: {"matching": n} for kind, n in seeded.items() if kind in kinds
    }
    from atg_dataplane_apimanagement.entities import KINDS

    assert set(kinds) | {"user", "certificate", "group", "group_user"} == {
        k.name for k in KINDS
    }  # every kind
    assert verify["contents_not_compared"] < verify["compared"]  # secrets compared by hash

    # the Key Vault-backed value points at the target's vault, the same secret, no version
    from atg_dataplane_sandbox import seed
    from azure.mgmt.keyvault import KeyVaultManagementClient

    vault = (
        seed.context(world["dir"])
        .mgmt(KeyVaultManagementClient, "target")
        .vaults.get(GROUP, "kv-tgt-reference")
    )
    backed = target.named_value.get(GROUP, SERVICE, "db-password-kv").key_vault
    assert (
        backed.secret_identifier == vault.properties.vault_uri.rstrip("/") + "/secrets/db-password"
    )

    again = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert again.summary()["replicated"] == 0

    journal = (world["dir"] / ".atg-dataplane" / "journal.db").read_bytes()
    assert_no_canary([*cli.outputs, journal, report.read_bytes()], canaries(world["dir"]))
