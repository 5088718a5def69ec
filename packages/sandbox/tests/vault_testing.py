"""Helpers for the emulator tests that need a Key Vault: created through the emulated ARM."""

from __future__ import annotations

from typing import Any

from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential
from atg_dataplane_sandbox.topology import Topology
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient


def create_vault(
    handle: Any,
    topo: Topology,
    tenant: str,
    group: str,
    name: str,
    rbac: bool = True,
    **props: Any,
) -> str:
    """Create ``group`` and the vault ``name`` in it as the tenant's admin; the vault's URI."""
    t = topo.tenant(tenant)
    cred = credential(handle, tenant, "admin")
    ResourceManagementClient(
        cred, t.subscription_id, **arm_kwargs(handle)
    ).resource_groups.create_or_update(group, {"location": "eastus"})
    kv = KeyVaultManagementClient(cred, t.subscription_id, **arm_kwargs(handle))
    vault = kv.vaults.begin_create_or_update(
        group,
        name,
        {
            "location": "eastus",
            "properties": {
                "tenantId": t.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": rbac,
                **props,
            },
        },
    ).result()
    return vault.properties.vault_uri
