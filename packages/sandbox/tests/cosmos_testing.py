"""What the Cosmos DB emulator tests share: an emulator over one Cosmos DB server, ARM for
Cosmos DB as the source's admin, an account created through ARM, and a data-plane client
that verifies TLS against the sandbox CA."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential
from atg_dataplane_sandbox.services import cosmos
from atg_dataplane_sandbox.topology import load_topology
from azure.cosmos import CosmosClient
from azure.cosmos.documents import SSLConfiguration
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from services_testing import emulator_over


@contextmanager
def cosmos_emulator(directory: Path, fault_seed: int | None = None) -> Iterator[EmulatorHandle]:
    """An emulator in front of one Cosmos DB server (one account per tenant)."""
    kwargs = {"fault_seed": fault_seed} if fault_seed is not None else {}
    with emulator_over(
        directory, "cosmos", cosmos, lambda layout: cosmos.start(layout, 1), **kwargs
    ) as handle:
        yield handle


def management(emu: EmulatorHandle) -> CosmosDBManagementClient:
    """ARM for Cosmos DB in the source subscription, as its admin (Owner)."""
    subscription = load_topology(emu.directory).tenant("source").subscription_id
    return CosmosDBManagementClient(
        credential(emu, "source", "admin"), subscription, **arm_kwargs(emu)
    )


def create_account(
    emu: EmulatorHandle, mgmt: CosmosDBManagementClient, group: str, name: str
) -> tuple[str, str]:
    """Create the account (and its resource group) through ARM; return its document
    endpoint and primary key."""
    subscription = load_topology(emu.directory).tenant("source").subscription_id
    cred = credential(emu, "source", "admin")
    groups = ResourceManagementClient(cred, subscription, **arm_kwargs(emu)).resource_groups
    groups.create_or_update(group, {"location": "eastus"})
    created = mgmt.database_accounts.begin_create_or_update(
        group,
        name,
        {"location": "eastus", "properties": {"locations": [{"locationName": "eastus"}]}},
        polling_interval=0.05,
    ).result()
    key = mgmt.database_accounts.list_keys(group, name).primary_master_key
    return created.document_endpoint, key


def client(emu: EmulatorHandle, account: tuple[str, Any], **kwargs: Any) -> CosmosClient:
    """A client of the account: ``account`` is (endpoint, key or token credential)."""
    # azure-cosmos skips TLS verification for 127.0.0.1 unless an SSLConfiguration names a CA.
    ssl = SSLConfiguration()
    ssl.SSLCaCerts = str(emu.ca_path)
    return CosmosClient(account[0], credential=account[1], ssl_config=ssl, **kwargs)


CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
"""The built-in Cosmos DB Data Contributor role's definition name."""


def grant(
    emu: EmulatorHandle, mgmt: CosmosDBManagementClient, group: str, account: str,
    tenant: str, principal: str, role: str = CONTRIBUTOR,
) -> str:
    """Assign a Cosmos DB data role on the whole account; return the assignment's name."""
    account_id = mgmt.database_accounts.get(group, account).id
    name = str(uuid.uuid4())
    mgmt.sql_resources.begin_create_update_sql_role_assignment(
        name, group, account,
        {"properties": {
            "roleDefinitionId": f"{account_id}/sqlRoleDefinitions/{role}",
            "scope": account_id,
            "principalId": load_topology(emu.directory).principal(tenant, principal).object_id,
        }},
        polling_interval=0.05,
    ).result()
    return name
