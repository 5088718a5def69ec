"""Azurite as the sandbox runs it: HTTPS verified against the sandbox CA, shared-key accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from atg_dataplane_sandbox import certs
from atg_dataplane_sandbox.services import PoolSizes, SandboxLayout
from atg_dataplane_sandbox.services.accounts import account_key
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ServiceRequestError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient
from services_testing import needs_emulators, running_services

pytestmark = needs_emulators


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxLayout, dict]]:
    directory = tmp_path_factory.mktemp("svc-storage")
    with running_services(directory, PoolSizes(storage=2, cosmos=1)) as (layout, info):
        yield layout, info


def _blob(layout: SandboxLayout, info: dict, account: str, ca: Path | None = None, **kwargs):
    key = account_key(layout, "azurite", account)
    return BlobServiceClient(
        f"{info['azurite']['blob']}/{account}",
        credential={"account_name": account, "account_key": key},
        connection_verify=str(ca or layout.ca),
        **kwargs,
    )


def test_accounts_pool_per_tenant_with_private_keys(running: tuple[SandboxLayout, dict]) -> None:
    layout, info = running
    accounts = info["azurite"]["accounts"]
    assert accounts == {
        "srcstore1": {"tenant": "source"}, "srcstore2": {"tenant": "source"},
        "tgtstore1": {"tenant": "target"}, "tgtstore2": {"tenant": "target"},
    }
    for name in accounts:
        key_file = layout.secrets / "azurite" / name
        assert key_file.stat().st_mode & 0o777 == 0o600
    for kind in ("blob", "queue", "table"):
        assert info["azurite"][kind].startswith("https://127.0.0.1:")


def test_blob_kinds_metadata_and_tags(running: tuple[SandboxLayout, dict]) -> None:
    layout, info = running
    service = _blob(layout, info, "srcstore1")
    container = service.create_container("svc-blobs", metadata={"owner": "tests"})
    container.upload_blob("block.txt", b"x" * 300_000, tags={"kind": "block"})
    append = container.get_blob_client("append.log")
    append.create_append_blob()
    append.append_block(b"line\n")
    page = container.get_blob_client("disk.vhd")
    page.create_page_blob(size=1024)
    page.upload_page(b"\1" * 512, offset=0, length=512)
    listed = {b.name: b.blob_type for b in container.list_blobs()}
    assert {name: str(kind.value) for name, kind in listed.items()} == {
        "append.log": "AppendBlob", "block.txt": "BlockBlob", "disk.vhd": "PageBlob"}
    assert container.get_container_properties().metadata == {"owner": "tests"}
    assert container.get_blob_client("block.txt").get_blob_tags() == {"kind": "block"}


def test_accounts_are_isolated(running: tuple[SandboxLayout, dict]) -> None:
    layout, info = running
    _blob(layout, info, "srcstore2").create_container("only-in-src2")
    names = [c.name for c in _blob(layout, info, "tgtstore1").list_containers()]
    assert "only-in-src2" not in names


def test_tls_is_verified_against_the_sandbox_ca(
    running: tuple[SandboxLayout, dict], tmp_path: Path
) -> None:
    layout, info = running
    other = certs.ensure_certs(tmp_path / "other-ca").ca
    with pytest.raises(ServiceRequestError):
        list(_blob(layout, info, "srcstore1", ca=other, retry_total=0).list_containers())


def test_queue_and_table(running: tuple[SandboxLayout, dict]) -> None:
    layout, info = running
    account = "srcstore1"
    key = account_key(layout, "azurite", account)
    queues = QueueServiceClient(
        f"{info['azurite']['queue']}/{account}",
        credential={"account_name": account, "account_key": key},
        connection_verify=str(layout.ca),
    )
    queue = queues.create_queue("svc-queue")
    queue.send_message("hello")
    assert [m.content for m in queue.peek_messages()] == ["hello"]
    tables = TableServiceClient(
        endpoint=f"{info['azurite']['table']}/{account}",
        credential=AzureNamedKeyCredential(account, key),
        connection_verify=str(layout.ca),
    )
    table = tables.create_table("svctable")
    table.create_entity({"PartitionKey": "p", "RowKey": "r", "count": 3, "ok": True})
    entity = table.get_entity("p", "r")
    assert entity["count"] == 3 and entity["ok"] is True


def test_cross_account_copy_with_a_sas(running: tuple[SandboxLayout, dict]) -> None:
    """Server-side copy between accounts (the storage plugin's path) works on one host name."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    layout, info = running
    source = _blob(layout, info, "srcstore1").get_container_client("copy-src")
    source.create_container()
    blob = source.upload_blob("payload.bin", b"p" * 100_000, tags={"copied": "yes"})
    sas = generate_blob_sas(
        "srcstore1", "copy-src", "payload.bin",
        account_key=account_key(layout, "azurite", "srcstore1"),
        permission=BlobSasPermissions(read=True, tag=True),
        expiry=datetime.now(UTC) + timedelta(minutes=10),
    )
    target = _blob(layout, info, "tgtstore1").get_container_client("copy-dst")
    target.create_container()
    copy = target.get_blob_client("payload.bin")
    copy.start_copy_from_url(f"{blob.url}?{sas}", requires_sync=True, tags="COPY")
    assert copy.download_blob().readall() == b"p" * 100_000
    assert copy.get_blob_tags() == {"copied": "yes"}
