"""App Service in the sandbox (``emulator/appservice/``), through azure-mgmt-web and HTTPS:
settings read only through their ``list`` actions, sticky names on the site only, slots,
storage mounts; a function app's functions appear from its code after zip deploy (Kudu,
Entra bearer auth, publish permission), its host and function keys are listed and set."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests
from arm_testing import mgmt_client
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import credential
from atg_dataplane_sandbox.topology import Topology
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.web import WebSiteManagementClient

RG = "rg-web"
ARM_SCOPE = "https://management.azure.com/.default"


@pytest.fixture(scope="module")
def web(emu: EmulatorHandle, topo: Topology) -> WebSiteManagementClient:
    client = mgmt_client(emu, topo, WebSiteManagementClient, RG)
    for name, kind in (("shop", "app"), ("jobs", "functionapp")):
        client.web_apps.begin_create_or_update(
            RG, name, {"location": "eastus", "kind": kind, "properties": {}}
        ).result()
    return client


# azure-mgmt-web 11 sends a dict body as it is: REST (camelCase) names


def _zip(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zipped:
        for path, text in files.items():
            zipped.writestr(path, text)
    return out.getvalue()


def _scm(web: WebSiteManagementClient, name: str) -> str:
    site = web.web_apps.get(RG, name)
    host = next(s.name for s in site.host_name_ssl_states if s.host_type == "Repository")
    return f"https://{host}"


def test_settings_are_read_only_through_list(web: WebSiteManagementClient) -> None:
    apps = web.web_apps
    assert dict(apps.list_application_settings(RG, "shop").properties or {}) == {}
    apps.update_application_settings(
        RG, "shop", {"properties": {"GREETING": "hello", "API_KEY": "s3cr3t-value"}}
    )
    assert apps.list_application_settings(RG, "shop").properties["API_KEY"] == "s3cr3t-value"
    apps.update_connection_strings(
        RG, "shop", {"properties": {"db": {"value": "Server=x;Password=p", "type": "SQLAzure"}}}
    )
    listed = apps.list_connection_strings(RG, "shop").properties["db"]
    assert listed.value == "Server=x;Password=p"
    with pytest.raises(HttpResponseError) as bad:
        apps.update_connection_strings(RG, "shop", {"properties": {"x": {"value": "v"}}})
    assert bad.value.status_code == 400
    apps.update_slot_configuration_names(
        RG, "shop", {"properties": {"appSettingNames": ["GREETING"]}}
    )
    assert apps.list_slot_configuration_names(RG, "shop").properties.app_setting_names == [
        "GREETING"
    ]
    apps.update_azure_storage_accounts(
        RG,
        "shop",
        {
            "properties": {
                "media": {
                    "type": "AzureFiles",
                    "accountName": "stmedia",
                    "shareName": "media",
                    "accessKey": "k3y",
                    "mountPath": "/media",
                }
            }
        },
    )
    mount = apps.list_azure_storage_accounts(RG, "shop").properties["media"]
    assert mount.mount_path == "/media" and mount.state == "Ok"


def test_slots_have_their_own_settings_and_no_sticky_names(
    web: WebSiteManagementClient,
) -> None:
    apps = web.web_apps
    slot = apps.begin_create_or_update_slot(
        RG, "shop", "staging", {"location": "eastus", "properties": {}}
    ).result()
    assert slot.default_host_name == "shop-staging.azurewebsites.net"
    assert [s.name for s in apps.list_slots(RG, "shop")] == ["staging"]
    apps.update_application_settings_slot(RG, "shop", "staging", {"properties": {"A": "1"}})
    assert dict(apps.list_application_settings_slot(RG, "shop", "staging").properties) == {
        "A": "1"
    }
    assert "A" not in apps.list_application_settings(RG, "shop").properties


def test_zip_deploy_makes_the_functions_and_keys_are_set(
    emu: EmulatorHandle, web: WebSiteManagementClient
) -> None:
    apps = web.web_apps
    assert list(apps.list_functions(RG, "jobs")) == []
    token = credential(emu, "source", "admin").get_token(ARM_SCOPE).token
    archive = _zip(
        {
            "host.json": "{}",
            "hello/function.json": json.dumps({"bindings": [{"type": "httpTrigger"}]}),
            "hello/index.js": "module.exports = async () => 'hi';",
        }
    )
    scm = _scm(web, "jobs")
    answer = requests.post(
        f"{scm}/api/zipdeploy",
        data=archive,
        headers={"Authorization": f"Bearer {token}"},
        verify=str(emu.ca_path),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert [f.name for f in apps.list_functions(RG, "jobs")] == ["jobs/hello"]
    back = requests.get(
        f"{scm}/api/zip/site/wwwroot/",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(emu.ca_path),
        timeout=30,
    )
    with zipfile.ZipFile(io.BytesIO(back.content)) as zipped:
        assert sorted(zipped.namelist()) == ["hello/function.json", "hello/index.js", "host.json"]
    # without a token, or with another tenant's: refused
    anonymous = requests.get(f"{scm}/api/zip/site/wwwroot/", verify=str(emu.ca_path), timeout=30)
    assert anonymous.status_code == 401
    other = credential(emu, "target", "admin").get_token(ARM_SCOPE).token
    foreign = requests.get(
        f"{scm}/api/zip/site/wwwroot/",
        headers={"Authorization": f"Bearer {other}"},
        verify=str(emu.ca_path),
        timeout=30,
    )
    assert foreign.status_code == 401

    host = apps.list_host_keys(RG, "jobs")
    assert host.master_key and set(host.function_keys) == {"default"}
    apps.create_or_update_host_secret(
        RG, "jobs", "functionKeys", "partner", {"properties": {"value": "p" * 40}}
    )
    assert apps.list_host_keys(RG, "jobs").function_keys["partner"] == "p" * 40
    assert set(apps.list_function_keys(RG, "jobs", "hello").as_dict()) == {"default"}  # flat
    apps.create_or_update_function_secret(
        RG, "jobs", "hello", "caller", {"properties": {"value": "c" * 40}}
    )
    assert apps.list_function_keys(RG, "jobs", "hello").as_dict()["caller"] == "c" * 40
    # the value is read only inside "properties": without it the service makes one
    apps.create_or_update_function_secret(
        RG, "jobs", "hello", "unwrapped", {"name": "unwrapped", "value": "u" * 40}
    )
    assert apps.list_function_keys(RG, "jobs", "hello").as_dict()["unwrapped"] != "u" * 40
    with pytest.raises(ResourceNotFoundError):
        apps.list_function_keys(RG, "jobs", "nope")
    apps.sync_function_triggers(RG, "jobs")
