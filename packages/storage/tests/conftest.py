"""Fixtures: the sandbox's two tenants (Azurite Blob/Queue/Table over HTTPS + OAuth, the
emulated Entra ID and ARM, and the emulated File service), reached through the official SDKs.

The plugin's hooks get real ``SideContext``/``ResourceBinding`` objects whose credentials
are ``ClientSecretCredential``s of the sandbox's ``replicator`` principals, with TLS
verification against the sandbox CA. No storage client is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane import AzureResource, Fingerprinter, ResourceBinding, SideContext

try:  # the sandbox's pytest plugin provides ``sandbox``; without it those tests skip
    import atg_dataplane_sandbox  # noqa: F401
except ImportError:

    @pytest.fixture(scope="session")
    def sandbox() -> Any:
        pytest.skip("atg-dataplane-sandbox is not installed")


SOURCE_GROUP = "rg-source-data"
TARGET_GROUP = "rg-target-data"
# Accounts the tests create live apart from the seeded groups, so that the sandbox's
# replication config (rg-source-data) never sees them.
TEST_GROUP = "rg-storage-tests"


@dataclass
class StorageWorld:
    """The running sandbox, seen by this package's tests."""

    sandbox: Any
    config: Any

    @property
    def ca(self) -> str:
        return str(self.sandbox.ca_bundle)

    def credential(self, side: str, principal: str = "replicator") -> Any:
        return self.sandbox.credential(side, principal)

    def context(
        self, side: str, principal: str = "replicator", concurrency: int = 8
    ) -> SideContext:
        return self.sandbox.context(side, principal, concurrency)  # type: ignore[no-any-return]

    def arm_kwargs(self) -> dict[str, Any]:
        return self.sandbox.arm_kwargs()  # type: ignore[no-any-return]

    def subscription(self, side: str) -> str:
        cfg = self.config.source if side == "source" else self.config.target
        return str(cfg.subscription_id)

    def account(
        self, side: str, name: str, group: str | None = None, create: bool = False
    ) -> AzureResource:
        """The ARM storage account (created through ARM with the admin principal if asked)."""
        from azure.mgmt.storage import StorageManagementClient

        group = group or (
            TEST_GROUP if create else SOURCE_GROUP if side == "source" else TARGET_GROUP
        )
        admin = self.credential(side, "admin")
        client = StorageManagementClient(admin, self.subscription(side), **self.arm_kwargs())
        if create:
            from azure.mgmt.resource.resources import ResourceManagementClient

            ResourceManagementClient(
                admin, self.subscription(side), **self.arm_kwargs()
            ).resource_groups.create_or_update(group, {"location": "eastus"})
            client.storage_accounts.begin_create(
                group,
                name,
                {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": "eastus"},
                polling_interval=0.1,
            ).result()
        # Read it as the engine does: the generic resource, properties as ARM returns them.
        from atg_dataplane.inventory import _get_full
        from atg_dataplane_storage.plugin import dataplane_resource_types

        account_id = client.storage_accounts.get_properties(group, name).id
        return _get_full(self.context(side, "admin"), account_id, dataplane_resource_types()[0])

    def binding(
        self,
        side: str,
        name: str,
        *,
        principal: str = "replicator",
        group: str | None = None,
        create: bool = False,
        context: SideContext | None = None,
    ) -> ResourceBinding:
        resource = self.account(side, name, group, create)
        return ResourceBinding(resource=resource, context=context or self.context(side, principal))

    def admin_service(self, binding: ResourceBinding, service: str) -> Any:
        """An SDK client of ``service`` with the admin principal (seeding, inspecting)."""
        from azure.data.tables import TableServiceClient
        from azure.storage.blob import BlobServiceClient
        from azure.storage.fileshare import ShareServiceClient
        from azure.storage.queue import QueueServiceClient

        url = binding.resource.properties["primaryEndpoints"][service]
        cred = self.credential(binding.side, "admin")
        kwargs: dict[str, Any] = {"connection_verify": self.ca}
        if service == "blob":
            return BlobServiceClient(url, cred, **kwargs)
        if service == "queue":
            return QueueServiceClient(url, cred, **kwargs)
        if service == "table":
            return TableServiceClient(endpoint=url.rstrip("/"), credential=cred, **kwargs)
        return ShareServiceClient(url, self.key_credential(binding), **kwargs)

    def key_credential(self, binding: ResourceBinding) -> Any:
        """The account's Shared Key (Azure Files takes no Entra token for shares)."""
        from azure.core.credentials import AzureNamedKeyCredential

        name = binding.resource.name
        key = (Path(self.sandbox.dir) / "secrets" / "azurite" / name).read_text().strip()
        return AzureNamedKeyCredential(name, key)


@pytest.fixture(scope="session")
def world(sandbox: Any) -> Iterator[StorageWorld]:
    from atg_dataplane.config import load_config

    sandbox.seed("reference")
    yield StorageWorld(sandbox=sandbox, config=load_config(sandbox.config_path))


@pytest.fixture
def fingerprinter() -> Fingerprinter:
    return Fingerprinter()


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
