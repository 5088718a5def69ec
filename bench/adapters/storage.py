"""Storage accounts: blob containers and blobs, tables (with entities), queues (with messages).

Same items as ``atg-dataplane-storage`` in replication mode: a container, a blob, a table
and a queue are one item each (a table's entities and a queue's messages travel with it).
The baseline downloads and uploads every blob and writes entities and messages one by one;
the ceiling copies blobs server-side (synchronous copy from a read-only SAS URL, the one
request that moves a small blob), writes entities in per-partition batches and sends
messages. (The sandbox has no File service in Azurite, and the ``large`` scenario seeds no
shares, so shares, directories and files are not benchmarked.)
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from adapters import Task

RESOURCE_TYPE = "Microsoft.Storage/storageAccounts"
BATCH = 100  # entities per table transaction (one partition each)


def _endpoint(resource: Any, service: str) -> str | None:
    url = (resource.properties.get("primaryEndpoints") or {}).get(service)
    return str(url) if url else None


def _services(resource: Any, side: Any, pool: int | None = None) -> dict[str, Any]:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    found: dict[str, Any] = {}
    makers = {"blob": BlobServiceClient, "queue": QueueServiceClient}
    for name, maker in makers.items():
        url = _endpoint(resource, name)
        if url:
            found[name] = maker(url, credential=side.credential, **side.kwargs(pool))
    url = _endpoint(resource, "table")
    if url:
        found["table"] = TableServiceClient(
            endpoint=url.rstrip("/"), credential=side.credential, **side.kwargs(pool)
        )
    return found


def _entity_bytes(entity: Any) -> int:
    return len(json.dumps(dict(entity), default=str).encode())


def _copy_table(src: Any, tgt: Any, name: str, batched: bool) -> int:
    target = tgt.create_table(name)
    nbytes = 0
    partitions: dict[str, list[Any]] = defaultdict(list)
    for entity in src.get_table_client(name).list_entities():
        nbytes += _entity_bytes(entity)
        if not batched:
            target.upsert_entity(entity)
            continue
        batch = partitions[entity["PartitionKey"]]
        batch.append(("upsert", entity))
        if len(batch) == BATCH:
            target.submit_transaction(batch)
            batch.clear()
    for batch in partitions.values():
        if batch:
            target.submit_transaction(batch)
    return nbytes


def _copy_queue(src: Any, tgt: Any, name: str, metadata: dict[str, str] | None) -> int:
    target = tgt.get_queue_client(name)
    target.create_queue(metadata=metadata or None)
    nbytes = 0
    for message in src.get_queue_client(name).peek_messages(max_messages=32):
        target.send_message(message.content)
        nbytes += len(str(message.content).encode())
    return nbytes


class StorageAdapter:
    resource_type = RESOURCE_TYPE
    kinds = ("container", "blob", "table", "queue")
    server_side_kinds = ("blob",)

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        src = _services(pair.source, source)
        tgt = _services(pair.target, target)
        if "blob" in src:
            for container in src["blob"].list_containers(include_metadata=True):
                tgt["blob"].create_container(container.name, metadata=container.metadata or None)
                tally.add("container")
                source_container = src["blob"].get_container_client(container.name)
                target_container = tgt["blob"].get_container_client(container.name)
                for blob in source_container.list_blobs(include=["metadata", "tags"]):
                    data = source_container.download_blob(blob.name).readall()
                    target_container.upload_blob(
                        blob.name,
                        data,
                        blob_type=blob.blob_type,
                        content_settings=blob.content_settings,
                        metadata=blob.metadata or None,
                        tags=blob.tags or None,
                        overwrite=True,
                    )
                    tally.add("blob", len(data))
        if "table" in src:
            for table in src["table"].list_tables():
                tally.add("table", _copy_table(src["table"], tgt["table"], table.name, False))
        if "queue" in src:
            for queue in src["queue"].list_queues(include_metadata=True):
                tally.add(
                    "queue", _copy_queue(src["queue"], tgt["queue"], queue.name, queue.metadata)
                )

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        src = _services(pair.source, source, pool)
        tgt = _services(pair.target, target, pool)
        tasks: list[Task] = []
        if "blob" in src:
            key = _account_key(pair.source, source)
            account = src["blob"].account_name
            start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            expiry = start + dt.timedelta(hours=2)
            for container in src["blob"].list_containers(include_metadata=True):
                tasks.append(
                    Task(
                        "container",
                        container.name,
                        lambda c=container: _create(tgt["blob"], c.name, c.metadata),
                        phase=-1,
                    )
                )
                listing = (
                    src["blob"].get_container_client(container.name).list_blobs(include=["tags"])
                )
                for blob in listing:
                    sas = generate_blob_sas(
                        account,
                        container.name,
                        blob.name,
                        account_key=key,
                        permission=BlobSasPermissions(read=True),
                        start=start,
                        expiry=expiry,
                    )
                    url = src["blob"].get_blob_client(container.name, blob.name).url + "?" + sas
                    client = tgt["blob"].get_blob_client(container.name, blob.name)
                    tasks.append(
                        Task(
                            "blob",
                            blob.name,
                            lambda c=client, u=url, t=blob.tags: _copy(c, u, t),
                        )
                    )
        if "table" in src:
            for table in src["table"].list_tables():
                tasks.append(
                    Task(
                        "table",
                        table.name,
                        lambda n=table.name: _copy_table(src["table"], tgt["table"], n, True),
                    )
                )
        if "queue" in src:
            for queue in src["queue"].list_queues(include_metadata=True):
                tasks.append(
                    Task(
                        "queue",
                        queue.name,
                        lambda q=queue: _copy_queue(src["queue"], tgt["queue"], q.name, q.metadata),
                    )
                )
        return tasks

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        """Accounts come from Azurite's fixed pool: empty the target account instead."""
        for name in names:
            _clear(sandbox_dir, name)
        return {name: name for name in names}

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        for name in names:
            _clear(sandbox_dir, name)


def _create(service: Any, name: str, metadata: dict[str, str] | None) -> int:
    service.create_container(name, metadata=metadata or None)
    return 0


def _copy(client: Any, url: str, tags: dict[str, str] | None) -> int:
    client.start_copy_from_url(url, requires_sync=True, tags=tags or None)
    return 0


def _account_key(resource: Any, side: Any) -> str:
    """One ARM ``listKeys`` (untimed): the ceiling signs its SAS URLs locally."""
    from azure.mgmt.storage import StorageManagementClient

    rid = resource.id
    parts = rid.split("/")
    base = side.arm
    client = StorageManagementClient(
        side.credential,
        parts[2],
        base_url=base["url"],
        credential_scopes=[base["scope"]],
        connection_verify=side.ca_bundle,
    )
    keys = client.storage_accounts.list_keys(parts[4], parts[-1])
    # Newer azure-mgmt-storage models are mappings (``.keys`` is then a method).
    raw = keys.as_dict() if hasattr(keys, "as_dict") else dict(keys)
    return str(next(k["value"] for k in raw["keys"] if k.get("value")))


def _clear(sandbox_dir: str, account: str) -> None:
    from atg_dataplane_sandbox.seed import context
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    ctx = context(sandbox_dir)
    azurite = ctx.services["azurite"]
    common = {"credential": ctx.credential("target"), "connection_verify": ctx.ca_bundle}
    blobs = BlobServiceClient(f"{azurite['blob']}/{account}", **common)
    tables = TableServiceClient(endpoint=f"{azurite['table']}/{account}", **common)
    queues = QueueServiceClient(f"{azurite['queue']}/{account}", **common)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(blobs.delete_container, [c.name for c in blobs.list_containers()]))
        list(pool.map(tables.delete_table, [t.name for t in tables.list_tables()]))
        list(pool.map(queues.delete_queue, [q.name for q in queues.list_queues()]))


ADAPTER = StorageAdapter()
