"""Azurite behind the emulator's fault-injecting proxies (fault service ``storage``), through
the official storage SDKs with TLS verification on: ARM's ``primaryEndpoints`` name the
proxies; uploads, streamed downloads and cross-account copies work through them; injected
503/429/drops are retried, ``latency`` is added."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from atg_dataplane_sandbox import seed as seed_module
from atg_dataplane_sandbox.pytest_plugin import SandboxHandle
from atg_dataplane_sandbox.seeders.context import SeedContext
from atg_dataplane_sandbox.seeders.storage import create_account
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableServiceClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
from azure.storage.blob import LinearRetry as BlobLinearRetry
from azure.storage.fileshare import LinearRetry as FileLinearRetry
from azure.storage.fileshare import ShareServiceClient
from azure.storage.queue import LinearRetry as QueueLinearRetry
from azure.storage.queue import QueueServiceClient
from faults_testing import FAST_RETRY, fast_storage_retry

SOURCE, TARGET = "srcstore3", "tgtstore3"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def ctx(sandbox: SandboxHandle) -> SeedContext:
    context = seed_module.context(sandbox.dir)
    for side, group in context.resource_groups.items():
        context.mgmt(ResourceManagementClient, side).resource_groups.create_or_update(
            group, {"location": context.location(side)}
        )
    return context


@pytest.fixture(scope="module")
def endpoints(ctx: SeedContext) -> dict[str, dict[str, str]]:
    return {
        SOURCE: create_account(ctx, "source", SOURCE),
        TARGET: create_account(ctx, "target", TARGET),
    }


@pytest.fixture
def faults(sandbox: SandboxHandle) -> Iterator[Any]:
    """``faults(spec)`` sets a spec and returns the storage counts so far; cleared after."""

    def apply(spec: str) -> dict[str, int]:
        return dict(sandbox.set_faults(spec)["injected"].get("storage", {}))

    yield apply
    sandbox.set_faults("")


def _key(sandbox: SandboxHandle, account: str) -> str:
    return (sandbox.dir / "secrets" / "azurite" / account).read_text().strip()


def _blobs(
    ctx: SeedContext, endpoints: dict[str, Any], account: str, side: str, **kwargs: Any
) -> BlobServiceClient:
    return BlobServiceClient(
        endpoints[account]["blob"],
        credential=ctx.credential(side),
        connection_verify=ctx.ca_bundle,
        **kwargs,
    )


FAST_BLOB = fast_storage_retry(BlobLinearRetry)
FAST_QUEUE = fast_storage_retry(QueueLinearRetry)
FAST_FILE = fast_storage_retry(FileLinearRetry)


def test_primary_endpoints_name_the_proxies(
    sandbox: SandboxHandle, endpoints: dict[str, dict[str, str]]
) -> None:
    emulator = json.loads((sandbox.dir / "emulator.json").read_text())
    azurite = sandbox.services_json["azurite"]
    for account in (SOURCE, TARGET):
        for kind in ("blob", "queue", "table"):
            proxy = emulator["storage"][kind]
            assert endpoints[account][kind] == f"{proxy}/{account}/"
            assert proxy != azurite[kind]
        assert endpoints[account]["file"] == f"{emulator['file']}/{account}/"
    sandbox.refresh()
    for kind in ("blob", "queue", "table"):
        assert sandbox.services[f"storage-{kind}"] == emulator["storage"][kind]
        assert sandbox.services[f"azurite-{kind}"] == azurite[kind]  # still listed


def test_upload_streamed_download_and_cross_account_copy(
    sandbox: SandboxHandle, ctx: SeedContext, endpoints: dict[str, dict[str, str]]
) -> None:
    container = f"proxy-{uuid.uuid4().hex[:8]}"
    data = uuid.uuid4().bytes * (12 * MIB // 16)  # 12 MiB: staged blocks up, chunks down
    source = _blobs(ctx, endpoints, SOURCE, "source").create_container(container)
    blob = source.get_blob_client("big ü/blob #1.bin")
    blob.upload_blob(data, metadata={"origin": "proxy"}, max_concurrency=2)
    digest = hashlib.sha256()
    downloaded = 0
    for chunk in blob.download_blob(max_concurrency=2).chunks():
        digest.update(chunk)
        downloaded += len(chunk)
    assert downloaded == len(data) and digest.digest() == hashlib.sha256(data).digest()
    assert blob.get_blob_properties().metadata == {"origin": "proxy"}

    # Copy into the other tenant's account: Azurite fetches the SAS source through the proxy.
    sas = generate_blob_sas(
        SOURCE,
        container,
        blob.blob_name,
        account_key=_key(sandbox, SOURCE),
        permission=BlobSasPermissions(read=True, tag=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    assert blob.url.startswith(endpoints[SOURCE]["blob"])
    target = _blobs(ctx, endpoints, TARGET, "target").create_container(container)
    for name, sync in (("sync-copy", True), ("async-copy", False)):
        copy = target.get_blob_client(name)
        started = copy.start_copy_from_url(f"{blob.url}?{sas}", requires_sync=sync or None)
        deadline = time.monotonic() + 30
        while started.get("copy_status") == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            started = {"copy_status": copy.get_blob_properties().copy.status}
        assert started["copy_status"] == "success", name
        assert hashlib.sha256(copy.download_blob().readall()).digest() == digest.digest()

    # Shared Key through the proxy (the signature does not cover the host).
    keyed = BlobServiceClient(
        endpoints[SOURCE]["blob"],
        credential=AzureNamedKeyCredential(SOURCE, _key(sandbox, SOURCE)),
        connection_verify=ctx.ca_bundle,
    )
    assert container in [c.name for c in keyed.list_containers()]

    queues = QueueServiceClient(
        endpoints[SOURCE]["queue"],
        credential=ctx.credential("source"),
        connection_verify=ctx.ca_bundle,
    )
    queue = queues.create_queue(container)
    queue.send_message("through the proxy")
    assert [m.content for m in queue.receive_messages()] == ["through the proxy"]
    tables = TableServiceClient(
        endpoint=endpoints[SOURCE]["table"].rstrip("/"),
        credential=ctx.credential("source"),
        connection_verify=ctx.ca_bundle,
    )
    table = tables.create_table(container.replace("-", ""))
    table.submit_transaction(
        [("upsert", {"PartitionKey": "p", "RowKey": str(i), "n": i}) for i in range(5)]
    )
    assert sorted(e["n"] for e in table.list_entities()) == list(range(5))
    target.delete_container()
    source.delete_container()
    queue.delete_queue()
    table.delete_table()


def test_injected_503_and_429_are_retried(
    sandbox: SandboxHandle,
    ctx: SeedContext,
    endpoints: dict[str, dict[str, str]],
    faults: Any,
) -> None:
    container = _blobs(ctx, endpoints, SOURCE, "source").create_container(
        f"faults-{uuid.uuid4().hex[:8]}"
    )
    container.upload_blob("small", b"x" * 1000)
    queue = QueueServiceClient(
        endpoints[SOURCE]["queue"],
        credential=ctx.credential("source"),
        connection_verify=ctx.ca_bundle,
        **FAST_QUEUE,
    ).create_queue(container.container_name)
    tables = TableServiceClient(
        endpoint=endpoints[SOURCE]["table"].rstrip("/"),
        credential=ctx.credential("source"),
        connection_verify=ctx.ca_bundle,
        **FAST_RETRY,
    )
    table = tables.create_table(container.container_name.replace("-", ""))
    table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
    blob = _blobs(ctx, endpoints, SOURCE, "source", **FAST_BLOB).get_blob_client(
        container.container_name, "small"
    )
    share = ShareServiceClient(
        endpoints[SOURCE]["file"],
        credential=AzureNamedKeyCredential(SOURCE, _key(sandbox, SOURCE)),
        connection_verify=ctx.ca_bundle,
        **FAST_FILE,
    ).create_share(container.container_name)
    share.get_file_client("small").upload_file(b"f" * 1000)

    def burst(index: int) -> None:
        assert blob.download_blob().readall() == b"x" * 1000
        if index % 4 == 0:
            blob.upload_blob(b"x" * 1000, overwrite=True)
        queue.send_message(f"m{index}")
        assert table.get_entity("p", "r")["v"] == 1
        assert share.get_file_client("small").download_file().readall() == b"f" * 1000

    # Injected 429s answer 503 ServerBusy, as Azure Storage throttles: every storage SDK
    # retries them (azure-storage-blob/queue/file-share would not retry a 429).
    for label in ("503", "429"):
        before = faults(f"storage:{label}=0.5,retry_after=0.01")
        for index in range(12):
            burst(index)
        after = faults("")
        assert after.get(label, 0) - before.get(label, 0) >= 10, label

    faults("storage:429=1")
    with pytest.raises(HttpResponseError) as info:
        _blobs(ctx, endpoints, SOURCE, "source", retry_total=0).get_blob_client(
            container.container_name, "small"
        ).get_blob_properties()
    assert info.value.status_code == 503
    assert info.value.response.headers["x-ms-error-code"] == "ServerBusy"
    assert info.value.response.headers["Retry-After"] == "1"
    faults("")
    container.delete_container()
    queue.delete_queue()
    table.delete_table()
    share.delete_share()


def test_latency_and_dropped_connections(
    ctx: SeedContext, endpoints: dict[str, dict[str, str]], faults: Any
) -> None:
    container = _blobs(ctx, endpoints, SOURCE, "source").create_container(
        f"drops-{uuid.uuid4().hex[:8]}"
    )
    payload = b"z" * (2 * MIB)
    container.upload_blob("payload", payload)
    blob = _blobs(ctx, endpoints, SOURCE, "source", **FAST_BLOB).get_blob_client(
        container.container_name, "payload"
    )
    blob.get_blob_properties()  # token and connection ready

    faults("storage:latency=250ms")
    started = time.monotonic()
    for _ in range(4):
        blob.get_blob_properties()
    assert time.monotonic() - started >= 4 * 0.25 * 0.9  # every request waited (loosely)

    before = faults("storage:drop=0.4")
    for index in range(10):
        assert blob.download_blob().readall() == payload
        blob.upload_blob(payload, overwrite=True, metadata={"round": str(index)})
    after = faults("")
    assert after.get("drop", 0) - before.get("drop", 0) >= 3
    assert blob.get_blob_properties().metadata == {"round": "9"}
    container.delete_container()
