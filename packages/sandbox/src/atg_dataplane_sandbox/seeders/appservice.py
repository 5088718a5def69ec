"""App Service: a site in each tenant (and its slots) through ARM (azure-mgmt-web), the
source filled as a real app is: plain settings (one a canary secret), a Key Vault
reference, a storage connection string, a blob URL and an Azure Files mount of a source
account, a connection string with a canary password, slot-sticky names, per-slot
settings, and code deployed through Kudu; a function app's code holds its functions, and
it has a host key and a function key of its own (canaries). The target site is what
Terraform leaves: empty slots, its own platform settings, and a setting only it has."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.web import WebSiteManagementClient

from atg_dataplane_sandbox.scenarios import ResourceSpec, SiteContents
from atg_dataplane_sandbox.seeders.context import ARM_SCOPE, SeedContext

TARGET_ONLY = "TARGET_ONLY_SETTING"
"""A setting only the target has: every run must leave it."""


def create_site(ctx: SeedContext, side: str, name: str, contents: SiteContents) -> Any:
    """The site and its slots, as Terraform makes them (the target's own platform
    settings and a setting of its own)."""
    web = ctx.mgmt(WebSiteManagementClient, side)
    rg = ctx.resource_groups[side]
    kind = "functionapp" if contents.function_app else "app"
    web.web_apps.begin_create_or_update(
        rg, name, {"location": ctx.location(side), "kind": kind, "properties": {}},
        polling_interval=0.1,
    ).result()
    for slot in contents.slots:
        web.web_apps.begin_create_or_update_slot(
            rg, name, slot, {"location": ctx.location(side), "properties": {}},
            polling_interval=0.1,
        ).result()
    platform = {"AzureWebJobsStorage": f"UseDevelopmentStorage=true;Tenant={side}"}
    if side == "target":
        platform[TARGET_ONLY] = "set by the target's own deployment"
    web.web_apps.update_application_settings(rg, name, {"properties": platform})
    return web


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: SiteContents = spec.contents
    create_site(ctx, "target", spec.target_name, contents)
    web = create_site(ctx, "source", spec.source_name, contents)
    rg, name = ctx.resource_groups["source"], spec.source_name
    counts: dict[str, int] = {}

    def count(kind: str, n: int = 1) -> None:
        counts[kind] = counts.get(kind, 0) + n

    settings = {"AzureWebJobsStorage": "UseDevelopmentStorage=true;Tenant=source"}
    for i in range(contents.settings):
        settings[f"SETTING_{i}"] = f"value-{i}"
    settings["API_TOKEN"] = ctx.canaries.add(ctx.canaries.new())
    strings: dict[str, Any] = {
        "db": {
            "value": f"Server=db.example;Password={ctx.canaries.add(ctx.canaries.new())}",
            "type": "SQLAzure",
        }
    }
    mounts: dict[str, Any] = {}
    if contents.key_vault:
        uri = _wait(lambda: _vault_uri(ctx, contents.key_vault))
        settings["DB_PASSWORD"] = f"@Microsoft.KeyVault(SecretUri={uri}secrets/db-password/)"
    if contents.storage:
        account, key, endpoints = _wait(lambda: _account(ctx, contents.storage))
        settings["MEDIA_URL"] = f"{endpoints['blob']}media/"
        strings["storage"] = {
            "value": f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};"
            f"BlobEndpoint={endpoints['blob']};QueueEndpoint={endpoints['queue']}",
            "type": "Custom",
        }
        mounts["media"] = {
            "type": "AzureFiles",
            "accountName": account,
            "shareName": "media",
            "accessKey": key,
            "mountPath": "/mounts/media",
        }
    web.web_apps.update_application_settings(rg, name, {"properties": settings})
    count("app_setting", len(settings) - 1)  # the platform's own is not copied
    web.web_apps.update_connection_strings(rg, name, {"properties": strings})
    count("connection_string", len(strings))
    if mounts:
        web.web_apps.update_azure_storage_accounts(rg, name, {"properties": mounts})
        count("storage_mount", len(mounts))
    if contents.slots:
        web.web_apps.update_slot_configuration_names(
            rg, name, {"properties": {"appSettingNames": ["SLOT_NAME"],
                                      "connectionStringNames": ["db"]}}
        )
    for slot in contents.slots:
        web.web_apps.update_application_settings_slot(
            rg, name, slot, {"properties": {"SLOT_NAME": slot, "GREETING": f"hello {slot}"}}
        )
        count("app_setting", 2)
        web.web_apps.update_connection_strings_slot(
            rg, name, slot,
            {"properties": {"db": {"value": f"Server={slot}.db.example", "type": "SQLAzure"}}},
        )
        count("connection_string")
    code = _function_code(contents.functions) if contents.function_app else _web_code(name)
    for slot in (None, *contents.slots):
        if slot and slot == contents.package_slot:
            package = _wait(lambda: _package_url(ctx, contents.storage, "packages", "app-qa.zip"))
            settings = dict(web.web_apps.list_application_settings_slot(rg, name, slot).properties)
            settings["WEBSITE_RUN_FROM_PACKAGE"] = package
            web.web_apps.update_application_settings_slot(rg, name, slot, {"properties": settings})
            count("app_setting")
            continue
        _deploy(ctx, web, rg, name, slot, code)
        count("code")
    if contents.function_app:
        count("host_key", 2)  # the master key and the default key every function app has
        web.web_apps.create_or_update_host_secret(
            rg, name, "functionKeys", "partner",
            {"properties": {"name": "partner", "value": ctx.canaries.add(ctx.canaries.new())}},
        )
        count("host_key")
        count("function_key", contents.functions)  # each function's default key
        if contents.functions:
            web.web_apps.create_or_update_function_secret(
                rg, name, "fn-0", "caller",
                {"properties": {"name": "caller", "value": ctx.canaries.add(ctx.canaries.new())}},
            )
            count("function_key")
    return counts


def _web_code(name: str) -> dict[str, str]:
    return {
        "index.html": f"<h1>{name}</h1>",
        "app.js": "require('http').createServer((q, r) => r.end('ok')).listen(8080);",
        "static/site.css": "h1 { color: teal; }",
    }


def _function_code(functions: int) -> dict[str, str]:
    files = {"host.json": json.dumps({"version": "2.0"})}
    for i in range(functions):
        trigger = {"type": "httpTrigger", "direction": "in", "name": "req"}
        if i == functions - 1 and functions > 1:
            trigger = {"type": "timerTrigger", "direction": "in", "name": "timer",
                       "schedule": "0 0 2 * * *"}
        files[f"fn-{i}/function.json"] = json.dumps({"bindings": [trigger]})
        files[f"fn-{i}/index.js"] = f"module.exports = async () => 'fn-{i}';"
    return files


def _deploy(
    ctx: SeedContext, web: Any, rg: str, name: str, slot: str | None, files: dict[str, str]
) -> None:
    """Zip deploy through the site's Kudu, as ``az webapp deploy`` does."""
    site = web.web_apps.get_slot(rg, name, slot) if slot else web.web_apps.get(rg, name)
    host = next(s.name for s in site.host_name_ssl_states if s.host_type == "Repository")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path, text in files.items():
            zipped.writestr(path, text)
    token = ctx.credential("source").get_token(ARM_SCOPE).token
    answer = requests.post(
        f"https://{host}/api/zipdeploy",
        data=archive.getvalue(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
        verify=ctx.ca_bundle,
        timeout=60,
    )
    answer.raise_for_status()


def _wait(read: Any, timeout: float = 60.0) -> Any:
    """What ``read`` returns once the resource another seeder makes exists (seeders run at
    once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read()
        except ResourceNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _vault_uri(ctx: SeedContext, vault: str) -> str:
    from azure.mgmt.keyvault import KeyVaultManagementClient

    vaults = ctx.mgmt(KeyVaultManagementClient, "source").vaults
    return str(vaults.get(ctx.resource_groups["source"], vault).properties.vault_uri)


def _account(ctx: SeedContext, account: str) -> tuple[str, str, dict[str, str]]:
    storage = ctx.mgmt(StorageManagementClient, "source").storage_accounts
    rg = ctx.resource_groups["source"]
    found = storage.get_properties(rg, account)
    key = storage.list_keys(rg, account).as_dict()["keys"][0]["value"]
    endpoints = found.primary_endpoints.as_dict()
    return account, str(key), {k: str(v) for k, v in endpoints.items() if v}


def _package_url(ctx: SeedContext, account: str, container: str, blob: str) -> str:
    """The blob's URL with a read SAS of the account's key, once the storage seeder made it
    (the way ``az webapp deploy --type zip`` with run-from-package leaves the setting)."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobClient, BlobSasPermissions, generate_blob_sas

    name, key, endpoints = _account(ctx, account)
    url = f"{endpoints['blob']}{container}/{blob}"
    found = BlobClient.from_blob_url(
        url, credential={"account_name": name, "account_key": key}, connection_verify=ctx.ca_bundle
    )
    if not found.exists():
        raise ResourceNotFoundError("the package blob is not there yet")
    sas = generate_blob_sas(
        account_name=name,
        container_name=container,
        blob_name=blob,
        account_key=key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(days=30),
        protocol="https",
    )
    return f"{url}?{sas}"
