"""5,000 blobs and one of 100 MB, replicated server-side and verified at 100 %.

Seeded concurrently into a pool account pair of their own (``srcstore3`` /
``tgtstore3``, resource group ``rg-storage-large``: no seed scenario or other
test uses them). The client transport of both sides counts every response
byte it reads: the copy of 100 MB passes through it as a few kilobytes of
headers and XML, never as payload.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from atg_dataplane import ReplicationMode
from storage_testing import REPLICATION, CountingSideContext, Run, kinds, not_matching

pytestmark = pytest.mark.sandbox

GROUP = "rg-storage-large"
BLOBS = 5000
BIG = 100 * 1024 * 1024
BIG_NAME = "big/hundred-mb.bin"


def _seed(world, source):
    from azure.storage.blob import ContentSettings

    service = world.admin_service(source, "blob")
    many = service.get_container_client("many")
    if many.exists() and sum(1 for _ in many.list_blobs()) >= BLOBS:
        return
    if not many.exists():
        many.create_container(metadata={"purpose": "scale"})

    def put(n):
        many.upload_blob(
            f"d{n % 50:02d}/blob-{n:05d}.txt",
            f"blob {n} ".encode() * (1 + n % 7),
            overwrite=True,
            metadata={"n": str(n)},
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(BLOBS)))
    big = service.get_container_client("big")
    if not big.exists():
        big.create_container()
    payload = os.urandom(BIG)
    big.upload_blob(
        "hundred-mb.bin",
        payload,
        overwrite=True,
        max_concurrency=4,
        content_settings=ContentSettings(
            content_type="application/octet-stream", content_md5=hashlib.md5(payload).digest()
        ),
    )


@pytest.fixture(scope="module")
def large_pair(world):
    source = world.binding("source", "srcstore3", group=GROUP, create=True)
    target = world.binding("target", "tgtstore3", group=GROUP, create=True)
    blob = world.admin_service(target, "blob")
    for container in blob.list_containers():
        blob.delete_container(container.name)
    started = time.monotonic()
    _seed(world, source)
    print(f"seeded {BLOBS} blobs + 100 MB in {time.monotonic() - started:.1f} s")
    return source, target


def test_5000_blobs_and_100_mb_replicate_server_side_and_verify(world, large_pair, tmp_path):
    source, target = large_pair
    counting = {
        side: CountingSideContext(
            **{
                f: getattr(world.context(side, concurrency=16), f)
                for f in (
                    "side",
                    "tenant_id",
                    "subscription_id",
                    "credential",
                    "cloud",
                    "concurrency",
                )
            }
        )
        for side in ("source", "target")
    }
    source = type(source)(resource=source.resource, context=counting["source"])
    target = type(target)(resource=target.resource, context=counting["target"])
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob"}

    started = time.monotonic()
    summary = run.replicate(REPLICATION, options, concurrency=16)
    copy_seconds = time.monotonic() - started
    blobs = kinds(summary, source.resource.id)["blob"]
    assert blobs.replicated == BLOBS + 1
    assert blobs.bytes >= BIG
    assert blobs.client_bytes == 0
    assert summary.client_bytes == 0
    received = counting["source"].counter.received + counting["target"].counter.received
    # Listings, properties and copy answers only: far below even the 100 MB blob alone.
    assert received < 20 * 1024 * 1024, received

    started = time.monotonic()
    report = run.verify(ReplicationMode.REPLICATION, options)
    verify_seconds = time.monotonic() - started
    assert report.fidelity == 100.0, not_matching(report)[:5]
    assert report.count("matching") == BLOBS + 1 + 2  # + the two containers
    print(
        f"replicated in {copy_seconds:.1f} s, verified in {verify_seconds:.1f} s, "
        f"client received {received} bytes"
    )

    started = time.monotonic()
    again = run.replicate(REPLICATION, options, concurrency=16)
    assert again.result.replicated == 0
    assert kinds(again, source.resource.id)["blob"].unchanged == BLOBS + 1
    print(f"no-op re-run in {time.monotonic() - started:.1f} s")


def test_streamed_fallback_counts_the_bytes_it_moves(world, large_pair, tmp_path):
    """Positive control for the counters: with server-side copy off, bytes do pass."""
    source, _ = large_pair
    target = world.binding("target", "tgtstore4", create=True)
    src = CountingSideContext(
        **{
            f: getattr(world.context("source"), f)
            for f in ("side", "tenant_id", "subscription_id", "credential", "cloud", "concurrency")
        }
    )
    source = type(source)(resource=source.resource, context=src)
    from atg_dataplane import Fingerprinter
    from atg_dataplane_storage import plugin

    fingerprinter = Fingerprinter()
    item = next(
        i
        for i in plugin.dataplane_discover(
            resource=source, mode=REPLICATION, options={}, fingerprinter=fingerprinter
        )
        if i.name == "many/d07/blob-00007.txt"
    )
    outcome = plugin.dataplane_replicate_item(
        item=item,
        source=source,
        target=target,
        mode=REPLICATION,
        options={"storage.server_side": False},
        fingerprinter=fingerprinter,
    )
    assert outcome.status == "replicated"
    assert outcome.client_bytes == item.size_bytes > 0
    assert src.counter.received >= item.size_bytes
    assert any("streamed" in w for w in outcome.warnings)
