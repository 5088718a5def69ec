"""The reference scenario through the core's engine and verifier, both modes.

Each test works on its own pair of pool accounts (``srcstore1`` seeded by the
sandbox; targets created empty), so tests do not see each other's writes.
"""

from __future__ import annotations

import pytest
from storage_testing import REPLICATION, TEMPLATE, Run, kinds, not_matching, source_counts

pytestmark = pytest.mark.sandbox

SOURCE = "srcstore1"


def _fresh_target(world, name):
    """An empty target account: a pool account of the target tenant, cleared."""
    binding = world.binding("target", name, create=name != "tgtstore1")
    blob = world.admin_service(binding, "blob")
    for container in blob.list_containers():
        blob.delete_container(container.name)
    tables = world.admin_service(binding, "table")
    for table in tables.list_tables():
        tables.delete_table(table.name)
    queues = world.admin_service(binding, "queue")
    for queue in queues.list_queues():
        queues.delete_queue(queue.name)
    files = world.admin_service(binding, "file")
    for share in files.list_shares():
        files.delete_share(share.name)
    return binding


def test_template_creates_every_container_table_and_queue_empty(world, tmp_path):
    source = world.binding("source", SOURCE)
    target = _fresh_target(world, "tgtstore4")
    run = Run(source, target, tmp_path)
    expected = source_counts(world, source)  # the reference scenario, plus what others added
    summary = run.replicate(TEMPLATE)
    by_kind = kinds(summary, source.resource.id)
    for kind in ("container", "table", "queue", "share"):
        assert by_kind[kind].replicated == expected[kind], kind
    assert "blob" not in by_kind and "file" not in by_kind and "directory" not in by_kind

    report = run.verify(TEMPLATE)
    assert report.fidelity == 100.0, not_matching(report)

    blob = world.admin_service(target, "blob")
    names = {c.name for c in blob.list_containers(include_metadata=True)}
    assert names >= {"documents", "logs", "disks", "empty-container"}
    assert len(names) == expected["container"]
    assert blob.get_container_client("documents").get_container_properties().metadata == {
        "department": "finance",
        "retention": "7y",
    }
    for name in names:
        assert list(blob.get_container_client(name).list_blobs()) == []
    tables = world.admin_service(target, "table")
    assert {t.name for t in tables.list_tables()} >= {"customers", "emptytable"}
    assert list(tables.get_table_client("customers").list_entities()) == []
    queues = world.admin_service(target, "queue")
    orders = queues.get_queue_client("orders")
    assert orders.get_queue_properties().metadata == {"team": "shop"}
    assert orders.peek_messages(max_messages=32) == []
    files = world.admin_service(target, "file")
    shares = {s.name: s for s in files.list_shares(include_metadata=True)}
    assert set(shares) >= {"teamshare", "emptyshare"}
    assert (shares["teamshare"].quota, shares["teamshare"].metadata) == (10, {"team": "finance"})
    assert list(files.get_share_client("teamshare").list_directories_and_files()) == []

    again = run.replicate(TEMPLATE)
    assert again.result.replicated == 0


def test_replication_verifies_at_100_percent_and_reruns_as_no_op(world, tmp_path):
    source = world.binding("source", SOURCE)
    target = _fresh_target(world, "tgtstore1")
    run = Run(source, target, tmp_path)
    expected = source_counts(world, source)  # the reference scenario, plus what others added
    first = run.replicate(REPLICATION)
    by_kind = kinds(first, source.resource.id)
    assert by_kind["blob"].replicated == expected["blob"] >= 6
    assert by_kind["blob"].client_bytes == 0, "blob bytes passed through the client"
    assert by_kind["table"].replicated == expected["table"]
    assert by_kind["queue"].replicated == expected["queue"]

    report = run.verify(REPLICATION)
    assert report.fidelity == 100.0, not_matching(report)
    by_type = report.by_type()["Microsoft.Storage/storageAccounts"]["by_kind"]
    assert by_type["blob"] == {"matching": expected["blob"]}
    assert by_type["table"] == {"matching": expected["table"]}
    assert by_type["queue"] == {"matching": expected["queue"]}
    assert by_type["share"] == {"matching": expected["share"]}
    assert by_type["file"]["matching"] >= 4
    assert by_type["directory"]["matching"] >= 4
    assert set(by_type["file"]) == set(by_type["directory"]) == {"matching"}
    assert by_kind["file"].replicated >= 4
    assert by_kind["file"].client_bytes == 0, "file bytes passed through the client"

    second = run.replicate(REPLICATION)
    assert second.result.replicated == 0, second.result.warnings[:5]
    assert kinds(second, source.resource.id)["blob"].unchanged == expected["blob"]
    assert kinds(second, source.resource.id)["file"].unchanged == by_kind["file"].replicated

    # Source messages are still all there, untouched (peek leaves no trace).
    src_queue = world.admin_service(source, "queue").get_queue_client("orders")
    peeked = src_queue.peek_messages(max_messages=32)
    assert len(peeked) == 5
    assert {m.dequeue_count for m in peeked} == {0}

    # Typed entities kept their EDM types.
    from azure.data.tables import EdmType

    entity = (
        world.admin_service(target, "table")
        .get_table_client("customers")
        .get_entity("region-0", "00000")
    )
    assert entity["lifetimeCents"].edm_type is EdmType.INT64
    assert isinstance(entity["avatar"], bytes)
    assert str(entity["customerId"]) == "00000000-0000-0000-0000-000000000001"
    assert entity["joined"].year == 2020
    assert isinstance(entity["balance"], float) and isinstance(entity["active"], bool)


def test_incremental_rerun_copies_only_what_changed(world, tmp_path):
    source = world.binding("source", "srcstore4", create=True)
    target = world.binding("target", "tgtstore4", create=True)
    admin = world.admin_service(source, "blob").get_container_client("inc")
    if not admin.exists():
        admin.create_container()
    for n in range(5):
        admin.upload_blob(f"b{n}.txt", f"version 1 of {n}".encode(), overwrite=True)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob"}
    run.replicate(REPLICATION, options)

    admin.upload_blob("b2.txt", b"version 2, longer than before", overwrite=True)
    admin.get_blob_client("b3.txt").set_blob_metadata({"changed": "yes"})
    second = run.replicate(REPLICATION, options)
    blobs = kinds(second, source.resource.id)["blob"]
    # srcstore4 is shared with other tests' containers: those are unchanged too.
    assert blobs.replicated == 2 and blobs.unchanged >= 3
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)
    dst = world.admin_service(target, "blob").get_blob_client("inc", "b2.txt")
    assert dst.download_blob().readall() == b"version 2, longer than before"
