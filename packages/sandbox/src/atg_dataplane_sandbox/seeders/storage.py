"""Storage: accounts through ARM (names from the Azurite pool), data through the storage SDKs."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import EdmType, EntityProperty, TableServiceClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import Sku, StorageAccountCreateParameters
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings
from azure.storage.fileshare import ContentSettings as FileContentSettings
from azure.storage.fileshare import ShareServiceClient
from azure.storage.queue import QueueServiceClient

from atg_dataplane_sandbox.scenarios import BlobSpec, ResourceSpec, ShareSpec, StorageContents
from atg_dataplane_sandbox.seeders.context import SeedContext


def create_account(ctx: SeedContext, side: str, name: str) -> dict[str, str]:
    """Create (or update) the storage account through ARM; return its endpoints."""
    client = ctx.mgmt(StorageManagementClient, side)
    account = client.storage_accounts.begin_create(
        ctx.resource_groups[side], name,
        StorageAccountCreateParameters(sku=Sku(name="Standard_LRS"), kind="StorageV2",
                                       location=ctx.location(side)),
        polling_interval=0.1,
    ).result()
    endpoints = account.primary_endpoints
    return {"blob": endpoints.blob, "queue": endpoints.queue, "table": endpoints.table,
            "file": endpoints.file}


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: StorageContents = spec.contents
    create_account(ctx, "target", spec.target_name)
    endpoints = create_account(ctx, "source", spec.source_name)
    credential = ctx.credential("source")
    common: dict[str, Any] = {"credential": credential, "connection_verify": ctx.ca_bundle}
    counts = {"blob_containers": 0, "blobs": 0, "tables": 0, "entities": 0, "queues": 0,
              "messages": 0}
    # Item by item and skipping what exists, so an interrupted seed can simply be re-run.
    blobs = BlobServiceClient(endpoints["blob"], **common)
    for container_spec in contents.containers:
        container = blobs.get_container_client(container_spec.name)
        if not container.exists():
            container.create_container(metadata=container_spec.metadata or None)
            counts["blob_containers"] += 1
        present = {b.name for b in container.list_blobs()}
        for blob in container_spec.blobs:
            if blob.name not in present:
                _upload(container, blob)
                counts["blobs"] += 1
    tables = TableServiceClient(endpoint=endpoints["table"].rstrip("/"), **common)
    for table_spec in contents.tables:
        try:
            table = tables.create_table(table_spec.name)
            counts["tables"] += 1
        except ResourceExistsError:
            table = tables.get_table_client(table_spec.name)
        for index in range(table_spec.entities):
            table.upsert_entity(_entity(index))
            counts["entities"] += 1
    queues = QueueServiceClient(endpoints["queue"], **common)
    for queue_spec in contents.queues:
        try:
            queue = queues.create_queue(queue_spec.name, metadata=queue_spec.metadata or None)
        except ResourceExistsError:
            continue  # messages cannot be told apart: a queue is seeded once
        counts["queues"] += 1
        for index in range(queue_spec.messages):
            queue.send_message(f"message {index} for {queue_spec.name}")
            counts["messages"] += 1
    if contents.shares and endpoints.get("file"):
        _seed_shares(ctx, spec.source_name, endpoints["file"], contents.shares, counts)
    return counts


def _seed_shares(ctx: SeedContext, account: str, url: str, shares: list[ShareSpec],
                 counts: dict[str, int]) -> None:
    """Azure Files through the sandbox File service, with the account key (Azure Files
    takes no Entra token for shares). Existing shares are left as they are."""
    key = (ctx.directory / "secrets" / "azurite" / account).read_text().strip()
    service = ShareServiceClient(url, AzureNamedKeyCredential(account, key),
                                 connection_verify=ctx.ca_bundle)
    counts.setdefault("shares", 0)
    counts.setdefault("files", 0)
    for share_spec in shares:
        try:
            share = service.create_share(share_spec.name, quota=share_spec.quota,
                                         metadata=share_spec.metadata or None)
        except ResourceExistsError:
            continue
        counts["shares"] += 1
        made: set[str] = set()
        wanted = list(share_spec.directories) + [
            f.path.rsplit("/", 1)[0] for f in share_spec.files if "/" in f.path
        ]
        for directory in wanted:
            parts = directory.split("/")
            for depth in range(1, len(parts) + 1):
                path = "/".join(parts[:depth])
                if path not in made:
                    share.create_directory(path, metadata={"depth": str(depth)})
                    made.add(path)
        for file_spec in share_spec.files:
            share.get_file_client(file_spec.path).upload_file(
                _payload(file_spec.path, file_spec.size),
                metadata=file_spec.metadata or None,
                content_settings=FileContentSettings(content_type=file_spec.content_type),
            )
            counts["files"] += 1


def _payload(name: str, size: int) -> bytes:
    return random.Random(name).randbytes(size)


def _upload(container: ContainerClient, spec: BlobSpec) -> None:
    data = _payload(spec.name, spec.size)
    settings = ContentSettings(content_type=spec.content_type)
    client = container.get_blob_client(spec.name)
    if spec.blob_type == "AppendBlob":
        client.create_append_blob(content_settings=settings, metadata=spec.metadata or None)
        for start in range(0, len(data), 1000):
            client.append_block(data[start:start + 1000])
    elif spec.blob_type == "PageBlob":
        client.create_page_blob(size=spec.size, content_settings=settings,
                                metadata=spec.metadata or None)
        # Sparse on purpose: the first 4 KiB and one page in the middle hold data.
        client.upload_page(data[:4096], offset=0, length=4096)
        middle = (spec.size // 2) // 512 * 512
        client.upload_page(data[middle:middle + 512], offset=middle, length=512)
    else:
        # Small single-put size: larger blobs go up as staged blocks plus a block list.
        client.upload_blob(data, content_settings=settings, metadata=spec.metadata or None,
                           max_concurrency=2)
    if spec.tags:
        client.set_blob_tags(spec.tags)


def _entity(index: int) -> dict[str, Any]:
    return {
        "PartitionKey": f"region-{index % 2}",
        "RowKey": f"{index:05d}",
        "name": f"Customer {index} — Zoë",
        "age": EntityProperty(30 + index, EdmType.INT32),
        "lifetimeCents": EntityProperty(2**40 + index, EdmType.INT64),
        "balance": 1234.5 + index,
        "active": index % 2 == 0,
        "joined": datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=index),
        "customerId": uuid.UUID(int=index + 1),
        "avatar": bytes([index % 256, 0, 255]),
    }
