"""Entra ID and ARM emulation, driven only through the official Azure SDKs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import ARM_SCOPE, arm_kwargs, credential
from atg_dataplane_sandbox.topology import Topology
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential, DefaultAzureCredential, EnvironmentCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


def _rm(
    emu: EmulatorHandle, topo: Topology, tenant: str = "source", principal: str = "admin"
) -> ResourceManagementClient:
    return ResourceManagementClient(
        credential(emu, tenant, principal), topo.tenant(tenant).subscription_id, **arm_kwargs(emu)
    )


# -- Entra ID ---------------------------------------------------------------------------------
def test_client_secret_credential_gets_a_token(emu: EmulatorHandle) -> None:
    token = credential(emu).get_token(ARM_SCOPE)
    assert token.token.count(".") == 2
    assert token.expires_on > 0


def test_environment_credential(
    emu: EmulatorHandle, topo: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = topo.principal("target", "replicator")
    monkeypatch.setenv("AZURE_TENANT_ID", p.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", p.client_id)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", topo.client_secret(p))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", emu.entra_url)
    cred = EnvironmentCredential(
        disable_instance_discovery=True, connection_verify=str(emu.ca_path)
    )
    assert cred.get_token(ARM_SCOPE).token
    default = DefaultAzureCredential(
        disable_instance_discovery=True,
        connection_verify=str(emu.ca_path),
        exclude_managed_identity_credential=True,
    )
    subs = SubscriptionClient(default, **arm_kwargs(emu))
    assert [s.subscription_id for s in subs.subscriptions.list()] == [
        topo.tenant("target").subscription_id
    ]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong_secret", "AADSTS7000215"),
        ("unknown_client", "AADSTS700016"),
        ("wrong_tenant", "AADSTS700016"),
        ("unknown_tenant", "Unable to get authority configuration"),
        ("expired", "AADSTS7000222"),
    ],
)
def test_token_errors_are_shaped_like_azure(
    emu: EmulatorHandle, topo: Topology, case: str, code: str
) -> None:
    p = topo.principal("source", "expired" if case == "expired" else "replicator")
    tenant, client, secret = p.tenant_id, p.client_id, topo.client_secret(p)
    if case == "wrong_secret":
        secret = "not-the-secret"
    elif case == "unknown_client":
        client = str(uuid.uuid4())
    elif case == "wrong_tenant":
        tenant = topo.tenant("target").tenant_id
    elif case == "unknown_tenant":
        tenant = str(uuid.uuid4())
    cred = ClientSecretCredential(
        tenant,
        client,
        secret,
        authority=emu.entra_url,
        disable_instance_discovery=True,
        connection_verify=str(emu.ca_path),
    )
    with pytest.raises(ClientAuthenticationError) as info:
        cred.get_token(ARM_SCOPE)
    assert code in str(info.value)
    assert secret not in str(info.value) or case == "wrong_secret"


# -- ARM ----------------------------------------------------------------------------------
def test_subscription_listing_is_per_tenant(emu: EmulatorHandle, topo: Topology) -> None:
    subs = SubscriptionClient(credential(emu, "source"), **arm_kwargs(emu))
    listed = list(subs.subscriptions.list())
    assert [s.subscription_id for s in listed] == [topo.tenant("source").subscription_id]
    assert listed[0].tenant_id == topo.tenant("source").tenant_id


def test_resource_group_crud_and_paging(emu: EmulatorHandle, topo: Topology) -> None:
    rm = _rm(emu, topo)
    for i in range(12):
        rm.resource_groups.create_or_update(
            f"rg-page-{i:02d}", {"location": "eastus", "tags": {"i": str(i)}}
        )
    pages = list(rm.resource_groups.list().by_page())
    assert len(pages) >= 3  # page size 5: paging really happened
    names = [g.name for page in pages for g in page]
    assert {f"rg-page-{i:02d}" for i in range(12)} <= set(names)
    assert rm.resource_groups.get("RG-PAGE-03").tags == {"i": "3"}  # case-insensitive
    rm.resource_groups.begin_delete("rg-page-11").result()
    with pytest.raises(ResourceNotFoundError) as info:
        rm.resource_groups.get("rg-page-11")
    assert info.value.error.code == "ResourceGroupNotFound"


def _vault_body(tenant_id: str, rbac: bool = True, **props: Any) -> dict[str, Any]:
    return {
        "location": "eastus",
        "properties": {
            "tenantId": tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "enableRbacAuthorization": rbac,
            **props,
        },
    }


def test_vault_create_is_a_long_running_operation(emu: EmulatorHandle, topo: Topology) -> None:
    src = topo.tenant("source")
    _rm(emu, topo).resource_groups.create_or_update("rg-kv", {"location": "eastus"})
    kv = KeyVaultManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    )
    poller = kv.vaults.begin_create_or_update("rg-kv", "kv-lro", _vault_body(src.tenant_id))
    vault = poller.result()
    assert poller.status().lower() == "succeeded"
    assert vault.properties.vault_uri.startswith("https://127.0.0.1:")
    assert vault.properties.vault_uri.rstrip("/") == emu.vault_urls["kv-lro"]
    assert vault.properties.enable_soft_delete is True
    assert [v.name for v in kv.vaults.list_by_resource_group("rg-kv")] == ["kv-lro"]
    listed = list(
        _rm(emu, topo).resources.list(filter="resourceType eq 'Microsoft.KeyVault/vaults'")
    )
    assert "kv-lro" in [r.name for r in listed]
    assert all(r.type == "Microsoft.KeyVault/vaults" for r in listed)


def test_vault_access_policy_update(emu: EmulatorHandle, topo: Topology) -> None:
    src = topo.tenant("source")
    _rm(emu, topo).resource_groups.create_or_update("rg-ap", {"location": "eastus"})
    kv = KeyVaultManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    )
    kv.vaults.begin_create_or_update("rg-ap", "kv-ap", _vault_body(src.tenant_id, False)).result()
    oid = src.principals["replicator"].object_id
    for permission in ("get", "list"):
        kv.vaults.update_access_policy(
            "rg-ap",
            "kv-ap",
            "add",
            {
                "properties": {
                    "accessPolicies": [
                        {
                            "tenantId": src.tenant_id,
                            "objectId": oid,
                            "permissions": {"secrets": [permission]},
                        }
                    ]
                }
            },
        )
    vault = kv.vaults.get("rg-ap", "kv-ap")
    assert len(vault.properties.access_policies) == 1
    assert sorted(vault.properties.access_policies[0].permissions.secrets) == ["get", "list"]


def test_cross_tenant_token_is_refused(emu: EmulatorHandle, topo: Topology) -> None:
    # A source-tenant principal asking for the target subscription.
    rm = ResourceManagementClient(
        credential(emu, "source", "admin"), topo.tenant("target").subscription_id, **arm_kwargs(emu)
    )
    with pytest.raises(HttpResponseError) as info:
        list(rm.resource_groups.list())
    assert info.value.status_code == 401
    assert info.value.error.code == "InvalidAuthenticationTokenTenant"


def test_missing_action_is_403_authorization_failed(emu: EmulatorHandle, topo: Topology) -> None:
    rm = _rm(emu, topo, "target", "limited")
    with pytest.raises(HttpResponseError) as info:
        rm.resource_groups.create_or_update("rg-denied", {"location": "eastus"})
    assert info.value.status_code == 403
    assert info.value.error.code == "AuthorizationFailed"
    assert "Microsoft.Resources/subscriptions/resourceGroups/write" in info.value.error.message
    # the same principal can read (Reader)
    assert isinstance(list(rm.resource_groups.list()), list)


def test_permissions_api(emu: EmulatorHandle, topo: Topology) -> None:
    src = topo.tenant("source")
    _rm(emu, topo).resource_groups.create_or_update("rg-perm", {"location": "eastus"})
    auth = AuthorizationManagementClient(
        credential(emu, "source", "limited"), src.subscription_id, **arm_kwargs(emu)
    )
    perms = list(auth.permissions.list_for_resource_group("rg-perm"))
    data_actions = {a for p in perms for a in p.data_actions}
    actions = {a for p in perms for a in p.actions}
    assert "*/read" in actions
    assert "Microsoft.KeyVault/vaults/*/read" in data_actions
    assert "Microsoft.KeyVault/vaults/secrets/getSecret/action" not in data_actions
    perms = list(
        auth.permissions.list_for_resource(
            "rg-perm", "Microsoft.KeyVault", "", "vaults", "any-vault"
        )
    )
    assert perms


def test_role_definitions_and_assignments(emu: EmulatorHandle, topo: Topology) -> None:
    tgt = topo.tenant("target")
    scope = f"/subscriptions/{tgt.subscription_id}"
    owner = AuthorizationManagementClient(
        credential(emu, "target", "admin"), tgt.subscription_id, **arm_kwargs(emu)
    )
    readers = list(owner.role_definitions.list(scope, filter="roleName eq 'Reader'"))
    assert [r.name for r in readers] == [READER]
    assert readers[0].permissions[0].actions == ["*/read"]
    _rm(emu, topo, "target").resource_groups.create_or_update("rg-ra", {"location": "eastus"})
    limited = tgt.principals["limited"].object_id
    rg_scope = f"{scope}/resourceGroups/rg-ra"
    contributor = (
        f"{scope}/providers/Microsoft.Authorization/roleDefinitions/"
        "b24988ac-6180-42a0-ab88-20f7382dd24c"
    )
    name = str(uuid.uuid4())
    created = owner.role_assignments.create(
        rg_scope,
        name,
        {
            "properties": {
                "roleDefinitionId": contributor,
                "principalId": limited,
                "principalType": "ServicePrincipal",
            }
        },
    )
    assert created.principal_id == limited
    # limited may now write inside rg-ra, but not elsewhere
    kv = KeyVaultManagementClient(
        credential(emu, "target", "limited"), tgt.subscription_id, **arm_kwargs(emu)
    )
    kv.vaults.begin_create_or_update("rg-ra", "kv-limited", _vault_body(tgt.tenant_id)).result()
    listed = list(
        owner.role_assignments.list_for_scope(rg_scope, filter=f"principalId eq '{limited}'")
    )
    assert name in [a.name for a in listed]
    owner.role_assignments.delete(rg_scope, name)
    with pytest.raises(HttpResponseError) as info:
        kv.vaults.begin_create_or_update(
            "rg-ra", "kv-limited-2", _vault_body(tgt.tenant_id)
        ).result()
    assert info.value.status_code == 403
    # a principal of the other tenant cannot be assigned
    with pytest.raises(HttpResponseError) as info:
        owner.role_assignments.create(
            rg_scope,
            str(uuid.uuid4()),
            {
                "properties": {
                    "roleDefinitionId": contributor,
                    "principalId": topo.principal("source", "replicator").object_id,
                }
            },
        )
    assert info.value.error.code == "PrincipalNotFound"


def test_deleted_vaults_recover_and_purge(emu: EmulatorHandle, topo: Topology) -> None:
    from atg_dataplane_sandbox.emulator.testing import vault_kwargs
    from azure.keyvault.secrets import SecretClient

    src = topo.tenant("source")
    cred = credential(emu, "source", "admin")
    _rm(emu, topo).resource_groups.create_or_update("rg-del", {"location": "eastus"})
    kv = KeyVaultManagementClient(cred, src.subscription_id, **arm_kwargs(emu))
    url = (
        kv.vaults.begin_create_or_update("rg-del", "kv-del", _vault_body(src.tenant_id))
        .result()
        .properties.vault_uri
    )
    SecretClient(url, cred, **vault_kwargs(emu)).set_secret("inside", "kept")
    kv.vaults.delete("rg-del", "kv-del")
    assert "kv-del" in [v.name for v in kv.vaults.list_deleted()]
    assert kv.vaults.get_deleted("kv-del", "eastus").properties.vault_id.endswith("/kv-del")
    with pytest.raises(HttpResponseError) as info:
        kv.vaults.begin_create_or_update("rg-del", "kv-del", _vault_body(src.tenant_id)).result()
    assert info.value.status_code == 409
    recovered = kv.vaults.begin_create_or_update(
        "rg-del",
        "kv-del",
        {
            "location": "eastus",
            "properties": {
                "tenantId": src.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "createMode": "recover",
            },
        },
    ).result()
    assert recovered.properties.vault_uri == url
    assert SecretClient(url, cred, **vault_kwargs(emu)).get_secret("inside").value == "kept"
    kv.vaults.delete("rg-del", "kv-del")
    kv.vaults.begin_purge_deleted("kv-del", "eastus").result()
    assert "kv-del" not in [v.name for v in kv.vaults.list_deleted()]
    fresh = kv.vaults.begin_create_or_update("rg-del", "kv-del", _vault_body(src.tenant_id))
    fresh_url = fresh.result().properties.vault_uri
    assert fresh_url == url  # same name, same listener
    assert [
        s.name for s in SecretClient(url, cred, **vault_kwargs(emu)).list_properties_of_secrets()
    ] == []
