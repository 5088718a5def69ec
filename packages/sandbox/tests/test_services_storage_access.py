"""Blob, Queue and Table behind the storage proxies enforce identity as Azure does: the
token's tenant must own the account and the principal needs the operation's data role
(``emulator/storage/access.py``), through the official SDKs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from atg_dataplane_sandbox.pytest_plugin import SandboxHandle
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

ACCOUNT = "srcstore1"  # a source-tenant account of the pool


def _clients(sandbox: SandboxHandle, tenant: str, principal: str) -> tuple[Any, Any, Any]:
    cred = sandbox.credential(tenant, principal)
    ca = str(sandbox.ca_bundle)
    svc = sandbox.services
    return (
        BlobServiceClient(
            f"{svc['storage-blob']}/{ACCOUNT}", credential=cred, connection_verify=ca
        ),
        QueueServiceClient(
            f"{svc['storage-queue']}/{ACCOUNT}", credential=cred, connection_verify=ca
        ),
        TableServiceClient(
            endpoint=f"{svc['storage-table']}/{ACCOUNT}", credential=cred, connection_verify=ca
        ),
    )


@pytest.fixture(scope="module")
def names(sandbox: SandboxHandle) -> dict[str, str]:
    """A container with one blob, a queue and a table, made by the account tenant's admin
    (who holds the Data Contributor roles)."""
    suffix = uuid.uuid4().hex[:8]
    made = {"container": f"acc-{suffix}", "queue": f"acc-{suffix}", "table": f"acc{suffix}"}
    blobs, queues, tables = _clients(sandbox, "source", "admin")
    blobs.create_container(made["container"]).upload_blob("kept.txt", b"kept")
    queues.create_queue(made["queue"])
    tables.create_table(made["table"])
    return made


def _refused(call: Any, status: int, code: str) -> None:
    with pytest.raises(HttpResponseError) as refused:
        call()
    assert refused.value.status_code == status, refused.value
    error = refused.value
    # the Tables SDK re-raises some errors undecoded: read the code Azure puts in a header
    found = getattr(error, "error_code", None) or error.response.headers.get("x-ms-error-code")
    assert found == code, error


def test_a_reader_of_blobs_reads_but_cannot_write(
    sandbox: SandboxHandle, names: dict[str, str]
) -> None:
    # the source replicator holds Storage Blob Data Reader, nothing more on blobs
    blobs, _, _ = _clients(sandbox, "source", "replicator")
    container = blobs.get_container_client(names["container"])
    assert container.download_blob("kept.txt").readall() == b"kept"
    assert [b.name for b in container.list_blobs()] == ["kept.txt"]
    mismatch = "AuthorizationPermissionMismatch"
    _refused(lambda: container.upload_blob("new.txt", b"x"), 403, mismatch)
    _refused(lambda: container.delete_blob("kept.txt"), 403, mismatch)


def test_a_reader_only_principal_cannot_write_queues_or_tables(
    sandbox: SandboxHandle, names: dict[str, str]
) -> None:
    # "limited" holds only Reader: a management role, no data role at all
    blobs, queues, tables = _clients(sandbox, "source", "limited")
    mismatch = "AuthorizationPermissionMismatch"
    _refused(lambda: queues.get_queue_client(names["queue"]).send_message("m"), 403, mismatch)
    _refused(lambda: queues.create_queue(f"{names['queue']}-2"), 403, mismatch)
    table = tables.get_table_client(names["table"])
    _refused(lambda: table.create_entity({"PartitionKey": "p", "RowKey": "r"}), 403, mismatch)
    _refused(lambda: tables.create_table(f"{names['table']}x"), 403, mismatch)
    _refused(
        lambda: blobs.get_container_client(names["container"]).download_blob("kept.txt").readall(),
        403,
        mismatch,
    )


def test_a_token_of_the_other_tenant_is_refused(
    sandbox: SandboxHandle, names: dict[str, str]
) -> None:
    # the target's admin holds every data role, in the target tenant only
    blobs, queues, tables = _clients(sandbox, "target", "admin")
    failed = "AuthenticationFailed"
    container = blobs.get_container_client(names["container"])
    _refused(lambda: container.upload_blob("cross.txt", b"x"), 403, failed)
    _refused(lambda: queues.get_queue_client(names["queue"]).send_message("m"), 403, failed)
    table = tables.get_table_client(names["table"])
    _refused(lambda: table.create_entity({"PartitionKey": "p", "RowKey": "x"}), 403, failed)


def test_the_account_tenants_contributor_writes(
    sandbox: SandboxHandle, names: dict[str, str]
) -> None:
    blobs, queues, tables = _clients(sandbox, "source", "admin")
    blobs.get_container_client(names["container"]).upload_blob("ok.txt", b"ok", overwrite=True)
    queue = queues.get_queue_client(names["queue"])
    queue.send_message("m")
    assert [m.content for m in queue.peek_messages()] == ["m"]
    table = tables.get_table_client(names["table"])
    table.upsert_entity({"PartitionKey": "p", "RowKey": "ok"})
    assert table.get_entity("p", "ok")["RowKey"] == "ok"


def test_only_the_tables_collection_is_a_table_level_operation() -> None:
    from atg_dataplane_sandbox.emulator.storage.access import permission

    svc = "Microsoft.Storage/storageAccounts/tableServices"
    assert permission("table", "POST", ["Tables"], {})[:2] == (f"{svc}/tables/write", False)
    assert permission("table", "DELETE", ["Tables('x')"], {})[:2] == (
        f"{svc}/tables/delete",
        False,
    )
    # a table whose name starts with "tables" holds entities: data actions, not management
    assert permission("table", "POST", ["tablesales"], {})[:2] == (
        f"{svc}/tables/entities/add/action",
        True,
    )
    assert permission("table", "GET", ["TablesArchive(PartitionKey='p',RowKey='r')"], {})[:2] == (
        f"{svc}/tables/entities/read",
        True,
    )
