"""Azurite with ``--oauth basic`` accepts tokens from the sandbox's Entra ID (per tenant)."""

from __future__ import annotations

import pytest
from atg_dataplane_sandbox.pytest_plugin import SandboxHandle
from azure.core.exceptions import ClientAuthenticationError
from azure.data.tables import TableServiceClient
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient


def credential(sandbox: SandboxHandle, tenant: str, secret: str | None = None):
    principal = sandbox.topology.principal(tenant, "admin")
    return ClientSecretCredential(
        principal.tenant_id, principal.client_id,
        secret if secret is not None else sandbox.client_secret(tenant, "admin"),
        authority=sandbox.services["entra"], disable_instance_discovery=True,
        connection_verify=str(sandbox.ca_bundle),
    )


def test_blob_queue_table_with_entra_tokens(sandbox: SandboxHandle) -> None:
    cred = credential(sandbox, "source")
    ca = str(sandbox.ca_bundle)
    blobs = BlobServiceClient(f"{sandbox.services['azurite-blob']}/srcstore1",
                              credential=cred, connection_verify=ca)
    container = blobs.get_container_client("oauth-check")
    container.create_container()
    container.upload_blob("hello.txt", b"hi")
    assert [b.name for b in container.list_blobs()] == ["hello.txt"]
    queues = QueueServiceClient(f"{sandbox.services['azurite-queue']}/srcstore1",
                                credential=cred, connection_verify=ca)
    queues.create_queue("oauth-check").send_message("m")
    tables = TableServiceClient(endpoint=f"{sandbox.services['azurite-table']}/srcstore1",
                                credential=cred, connection_verify=ca)
    tables.create_table("oauthcheck").create_entity({"PartitionKey": "p", "RowKey": "r"})
    assert "oauthcheck" in [t.name for t in tables.list_tables()]


def test_a_wrong_client_secret_gets_no_token(sandbox: SandboxHandle) -> None:
    with pytest.raises(ClientAuthenticationError):
        credential(sandbox, "target", secret="wrong").get_token("https://storage.azure.com/.default")
