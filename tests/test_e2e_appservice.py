"""End to end, as a user types it: the App Service plugin through the CLI against a private
sandbox seeded with the reference web app (two slots, sticky names, a Key Vault reference,
a storage connection string, URL and mount, code) and function app (three functions, host
and function keys). Issue 19's acceptance 1 to 3.

A slot that runs from a package (a blob URL with a SAS) gets the blob copied into the
target's account and a SAS of its own; neither SAS appears anywhere we write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from e2e_helpers import Cli, assert_no_canary, canaries, seeded_sandbox

pytestmark = pytest.mark.sandbox
WEB = "Microsoft.Web/sites"
GROUP = "rg-target-data"
TARGET_ONLY = "TARGET_ONLY_SETTING"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_sandbox(tmp_path_factory.mktemp("e2e-web"), WEB) as found:
        yield found


def _target(world: dict[str, Any]) -> Any:
    from atg_dataplane_sandbox import seed
    from azure.mgmt.web import WebSiteManagementClient

    return seed.context(world["dir"]).mgmt(WebSiteManagementClient, "target").web_apps


def _source(world: dict[str, Any]) -> Any:
    from atg_dataplane_sandbox import seed
    from azure.mgmt.web import WebSiteManagementClient

    return seed.context(world["dir"]).mgmt(WebSiteManagementClient, "source").web_apps


def test_app_service_through_the_cli(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    assert "appservice" in cli("plugins", "-o", "tsv", "--query", "[].name").stdout
    cli("permissions", "--config", config, "--mode", "replication")
    apps = _target(world)

    template = cli("replicate", "--config", config, "--mode", "template", "-o", "json")
    assert template.summary()["failed"] == 0
    verify = cli("verify", "--config", config, "--mode", "template", "-o", "json").json()
    assert verify["by_type"][WEB]["fidelity"] == 100.0, verify["items"]
    settings = apps.list_application_settings(GROUP, "app-tgt-reference").properties
    assert settings["API_TOKEN"] == "atg-dataplane-template-placeholder"
    assert settings[TARGET_ONLY] == "set by the target's own deployment"
    from atg_dataplane_sandbox import seed
    from azure.mgmt.keyvault import KeyVaultManagementClient

    vault = (
        seed.context(world["dir"])
        .mgmt(KeyVaultManagementClient, "target")
        .vaults.get(GROUP, "kv-tgt-reference")
    )
    assert settings["DB_PASSWORD"] == (  # the target's vault, the same secret, no version
        f"@Microsoft.KeyVault(SecretUri={vault.properties.vault_uri.rstrip('/')}"
        "/secrets/db-password)"
    )
    assert apps.list_slot_configuration_names(GROUP, "app-tgt-reference").properties[
        "appSettingNames"
    ] == ["SLOT_NAME"]
    assert list(apps.list_functions(GROUP, "func-tgt-reference")) == []  # no code yet

    run = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert run.summary()["failed"] == 0
    report = world["dir"] / "web-report.html"
    verify = cli(
        "verify", "--config", config, "--mode", "replication", "--report", str(report),
        "-o", "json",
    ).json()
    assert verify["fidelity"] == 100.0, verify["items"]
    kinds = verify["by_type"][WEB]["by_kind"]
    seeded = world["counts"]
    for kind in ("app_setting", "connection_string", "storage_mount", "host_key",
                 "function_key", "code"):
        assert kinds[kind] == {"matching": seeded[kind]}, kind
    settings = apps.list_application_settings(GROUP, "app-tgt-reference").properties
    assert settings[TARGET_ONLY] == "set by the target's own deployment"  # both modes
    assert settings["AzureWebJobsStorage"].endswith("Tenant=target")
    assert len(list(apps.list_functions(GROUP, "func-tgt-reference"))) == 3

    again = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert again.summary()["replicated"] == 0

    cli("terraform", "--config", config)  # generated code: values never written
    journal = (world["dir"] / ".atg-dataplane" / "journal.db").read_bytes()
    texts = [*cli.outputs, journal, report.read_bytes()]
    assert_no_canary(texts, canaries(world["dir"]))
    # nor the SAS of the package a slot runs from, on either side
    for site, side_apps in (("app-tgt-reference", apps), ("app-src-reference", _source(world))):
        group = GROUP if side_apps is apps else "rg-source-data"
        package = side_apps.list_application_settings_slot(group, site, "qa").properties[
            "WEBSITE_RUN_FROM_PACKAGE"
        ]
        signature = parse_qs(urlsplit(package).query)["sig"][0]
        assert_no_canary(texts, [signature, quote(signature, safe="")])
