"""Fixtures: the sandbox's emulated tenants (Entra ID, ARM, Key Vault over HTTPS).

The emulator runs in-process (``start_emulator``) once per session. Vaults are
created through the emulator's ARM with the official management SDK; the
plugin's hooks are called with real ``SideContext``/``ResourceBinding``
objects whose credentials are ``ClientSecretCredential``s against the emulated
Entra ID, with TLS verification against the sandbox's test CA. No Key Vault
client is mocked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from atg_dataplane import (
    AzureResource,
    Fingerprinter,
    ResourceBinding,
    SideContext,
)
from atg_dataplane.clouds import Cloud


@dataclass
class Tenants:
    handle: Any
    topology: Any
    cloud: Cloud

    def credential(self, side: str, principal: str = "replicator") -> Any:
        from atg_dataplane_sandbox.emulator.testing import credential

        return credential(self.handle, side, principal)

    def context(self, side: str, principal: str = "replicator") -> SideContext:
        tenant = self.topology.tenant(side)
        return SideContext(
            side=side,  # type: ignore[arg-type]
            tenant_id=tenant.tenant_id,
            subscription_id=tenant.subscription_id,
            credential=self.credential(side, principal),
            cloud=self.cloud,
            concurrency=4,
        )

    def object_id(self, side: str, principal: str = "replicator") -> str:
        return str(self.topology.principal(side, principal).object_id)


@pytest.fixture(scope="session")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    emulator = pytest.importorskip(
        "atg_dataplane_sandbox.emulator", reason="atg-dataplane-sandbox is not installed"
    )
    from atg_dataplane_sandbox.emulator.testing import ARM_SCOPE
    from atg_dataplane_sandbox.topology import load_topology

    handle = emulator.start_emulator(tmp_path_factory.mktemp("kv-sandbox"))
    cloud = Cloud(
        name="sandbox",
        authority_host=handle.entra_url,
        resource_manager=handle.arm_url,
        arm_scope=ARM_SCOPE,
        ca_bundle=str(handle.ca_path),
        suffixes={"keyvault": "vault.azure.net"},
    )
    try:
        yield Tenants(handle=handle, topology=load_topology(handle.directory), cloud=cloud)
    finally:
        handle.stop()


VaultFactory = Callable[..., ResourceBinding]


@pytest.fixture(scope="session")
def make_vault(tenants: Tenants) -> VaultFactory:
    """Create a vault through ARM on one side; returns its binding for ``principal``."""
    from atg_dataplane_sandbox.emulator.testing import arm_kwargs
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    groups: set[str] = set()

    def make(
        side: str,
        *,
        principal: str = "replicator",
        rbac: bool = True,
        purge_protection: bool = False,
        access_policies: list[dict[str, Any]] | None = None,
        location: str = "eastus",
    ) -> ResourceBinding:
        tenant = tenants.topology.tenant(side)
        admin = tenants.credential(side, "admin")
        arm = arm_kwargs(tenants.handle)
        group = f"rg-kv-{side}"
        if group not in groups:
            groups_client = ResourceManagementClient(admin, tenant.subscription_id, **arm)
            groups_client.resource_groups.create_or_update(group, {"location": location})
            groups.add(group)
        name = f"kv{side[:3]}{uuid.uuid4().hex[:12]}"
        properties: dict[str, Any] = {
            "tenantId": tenant.tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "enableRbacAuthorization": rbac,
            "accessPolicies": access_policies or [],
        }
        if purge_protection:
            properties["enablePurgeProtection"] = True
        client = KeyVaultManagementClient(admin, tenant.subscription_id, **arm)
        vault = client.vaults.begin_create_or_update(
            group, name, {"location": location, "properties": properties}, polling_interval=0.05
        ).result()
        resource = AzureResource.from_arm(vault.as_dict())
        return ResourceBinding(resource=resource, context=tenants.context(side, principal))

    return make


@pytest.fixture
def fingerprinter() -> Fingerprinter:
    return Fingerprinter()


def admin_clients(tenants: Tenants, binding: ResourceBinding) -> Any:
    """SDK clients with the admin principal, to seed and inspect vaults outside the plugin."""
    from atg_dataplane_sandbox.emulator.testing import vault_kwargs
    from azure.keyvault.certificates import CertificateClient
    from azure.keyvault.keys import KeyClient
    from azure.keyvault.secrets import SecretClient

    side = binding.side
    url = binding.resource.properties["vaultUri"]
    kwargs = vault_kwargs(tenants.handle)
    cred = tenants.credential(side, "admin")

    @dataclass
    class Admin:
        secrets: SecretClient
        keys: KeyClient
        certificates: CertificateClient

    return Admin(
        SecretClient(url, cred, **kwargs),
        KeyClient(url, cred, **kwargs),
        CertificateClient(url, cred, **kwargs),
    )


@pytest.fixture(scope="session")
def admin(tenants: Tenants) -> Callable[[ResourceBinding], Any]:
    return lambda binding: admin_clients(tenants, binding)
