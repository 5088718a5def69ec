"""Queues beyond a peek, the streamed fallback for every blob type, and no SAS in any error."""

from __future__ import annotations

import logging
import re

import pytest
from atg_dataplane import Fingerprinter
from atg_dataplane_storage import plugin
from storage_testing import REPLICATION, Run, kinds, not_matching, source_counts

pytestmark = pytest.mark.sandbox
_SIGNATURE = re.compile(r"sig=(?!REDACTED)[^&\s'\"]+")


def _clear(world, binding):
    blob = world.admin_service(binding, "blob")
    for container in blob.list_containers():
        blob.delete_container(container.name)
    queues = world.admin_service(binding, "queue")
    for queue in queues.list_queues():
        queues.delete_queue(queue.name)


def _empty_accounts(world):  # type: ignore[no-untyped-def]
    """srcstore4 and tgtstore4, both emptied."""
    source = world.binding("source", "srcstore4", create=True)
    target = world.binding("target", "tgtstore4", create=True)
    _clear(world, source)
    _clear(world, target)
    return source, target


def test_queue_of_more_than_32_messages_is_copied_and_left_as_it_was(world, tmp_path):
    source, target = _empty_accounts(world)
    queue = world.admin_service(source, "queue").get_queue_client("busy")
    queue.create_queue(metadata={"load": "high"})
    sent = [f"job {n}" for n in range(75)] + ["job 1"]  # a duplicate content on purpose
    for text in sent:
        queue.send_message(text)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "queue"}

    first = run.replicate(REPLICATION, options)
    queues = kinds(first, source.resource.id)["queue"]
    assert queues.replicated == 1
    assert any("dequeue count" in r for r in queues.reasons), queues.reasons

    # Nothing consumed or lost: every message is visible again, each received exactly once.
    assert queue.get_queue_properties().approximate_message_count == len(sent)
    visible = list(queue.receive_messages(max_messages=32, visibility_timeout=1))
    assert visible and {m.dequeue_count for m in visible} == {2}
    target_queue = world.admin_service(target, "queue").get_queue_client("busy")
    assert target_queue.get_queue_properties().approximate_message_count == len(sent)

    import time

    time.sleep(1.2)  # the test's own receive above hid some for a second
    again = run.replicate(REPLICATION, options)
    assert again.result.replicated == 0
    assert target_queue.get_queue_properties().approximate_message_count == len(sent)
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)

    peek_only = run.replicate(REPLICATION, {**options, "storage.queue_read": "peek"})
    assert peek_only.result.replicated == 0


def test_streamed_fallback_copies_block_append_and_page_blobs(world, tmp_path):
    source = world.binding("source", "srcstore1")
    target = world.binding("target", "tgtstore4", create=True)
    _clear(world, target)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob", "storage.server_side": False}
    expected = source_counts(world, source)["blob"]
    summary = run.replicate(REPLICATION, options)
    blobs = kinds(summary, source.resource.id)["blob"]
    assert blobs.replicated == expected >= 6
    assert blobs.client_bytes > 6 * 1024 * 1024  # the bytes did pass through here
    assert all("streamed" in r for r in blobs.reasons if "/" in r)
    report = run.verify(REPLICATION, {"storage.services": "blob"})
    assert report.fidelity == 100.0, not_matching(report)
    page = world.admin_service(target, "blob").get_blob_client("disks", "data.vhd")
    assert page.get_blob_properties().blob_type == "PageBlob"
    assert len(list(page.list_page_ranges())) >= 1


def test_no_sas_signature_in_errors_or_logs(world, tmp_path, caplog):
    """A copy that fails after its SAS was signed: the recorded error holds no signature."""
    source = world.binding("source", "srcstore4", create=True)
    target = world.binding("target", "tgtstore4", create=True)
    container = world.admin_service(source, "blob").get_container_client("vanishing")
    if not container.exists():
        container.create_container()
    container.upload_blob("gone.bin", b"soon gone", overwrite=True)
    fingerprinter = Fingerprinter()
    items = [
        i
        for i in plugin.dataplane_discover(
            resource=source,
            mode=REPLICATION,
            options={"storage.services": "blob"},
            fingerprinter=fingerprinter,
        )
        if i.name == "vanishing/gone.bin"
    ]
    container.delete_blob("gone.bin")
    # As the command line does: every log line passes the core's redactor (urllib3 logs
    # request URLs at debug level, SAS included; azure-core redacts its own lines).
    from atg_dataplane.redact import RedactingFilter

    caplog.handler.addFilter(RedactingFilter())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as caught:
        plugin.dataplane_replicate_item(
            item=items[0],
            source=source,
            target=target,
            mode=REPLICATION,
            options={},
            fingerprinter=fingerprinter,
        )
    error = caught.value
    texts = [str(error), repr(error), str(getattr(error, "message", ""))]
    response = getattr(error, "response", None)
    request = getattr(response, "request", None)
    if request is not None:
        texts += [str(request.url), str(dict(request.headers))]
    assert not any(_SIGNATURE.search(t) for t in texts), texts
    assert not _SIGNATURE.search(caplog.text)
    from atg_dataplane.engine import describe_error

    assert not _SIGNATURE.search(describe_error(error))


def test_blob_snapshots_are_recreated_in_order_as_an_option(world, tmp_path):
    source = world.binding("source", "srcstore4", create=True)
    target = world.binding("target", "tgtstore4", create=True)
    container = world.admin_service(source, "blob").get_container_client("snaps")
    if container.exists():
        container.delete_container()
        import time

        time.sleep(0.2)
    container.create_container()
    blob = container.get_blob_client("doc.txt")
    for n in range(3):
        blob.upload_blob(
            f"revision {n} ".encode() * (n + 1), overwrite=True, metadata={"rev": str(n)}
        )
        if n < 2:
            blob.create_snapshot()
    dst_container = world.admin_service(target, "blob").get_container_client("snaps")
    if dst_container.exists():
        dst_container.delete_container()
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob", "storage.snapshots": True}
    first = run.replicate(REPLICATION, options)
    assert kinds(first, source.resource.id)["blob"].replicated == 3
    snapshots = sorted(
        (b for b in dst_container.list_blobs(include=["snapshots", "metadata"]) if b.snapshot),
        key=lambda b: b.snapshot,
    )
    assert [b.metadata for b in snapshots] == [{"rev": "0"}, {"rev": "1"}]
    first_snapshot = dst_container.get_blob_client("doc.txt", snapshot=snapshots[0].snapshot)
    assert first_snapshot.download_blob().readall() == b"revision 0 "
    assert dst_container.get_blob_client("doc.txt").download_blob().readall() == (
        b"revision 2 " * 3
    )
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)
    again = run.replicate(REPLICATION, options)
    assert again.result.replicated == 0


def test_accounts_without_shared_key_report_their_shares_as_not_copyable(world, tmp_path):
    from dataclasses import replace

    from atg_dataplane import ResourceBinding

    seeded = world.binding("source", "srcstore1")
    resource = replace(
        seeded.resource,
        properties={**seeded.resource.properties, "allowSharedKeyAccess": False},
    )
    source = ResourceBinding(resource=resource, context=seeded.context)
    target = world.binding("target", "tgtstore4", create=True)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "file"}
    summary = run.replicate(REPLICATION, options)
    shares = kinds(summary, source.resource.id)["share"]
    assert (shares.replicated, shares.skipped) == (0, 1)
    assert any("Shared Key" in r for r in shares.reasons)
    report = run.verify(REPLICATION, options)
    assert report.count("not_copyable") == 1


def test_what_this_run_creates_is_not_read_back(world, tmp_path):
    """A container or queue the run has just created is empty: its blobs need no listing,
    its messages no peek. The next run, finding them in place, reads them as usual."""
    from storage_testing import CountingSideContext

    context = world.context("target")
    counting = CountingSideContext(
        **{
            f: getattr(context, f)
            for f in ("side", "tenant_id", "subscription_id", "credential", "cloud")
        }
    )
    source = world.binding("source", "srcstore1")
    target = world.binding("target", "tgtstore4", create=True, context=counting)
    _clear(world, target)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob,queue"}
    expected = source_counts(world, source)

    first = run.replicate(REPLICATION, options)
    by_kind = kinds(first, source.resource.id)
    assert by_kind["container"].replicated == expected["container"]
    assert by_kind["queue"].replicated == expected["queue"]
    requests = counting.counter.requests
    blob_listings = [u for m, u in requests if "restype=container" in u and "comp=list" in u]
    peeks = [u for m, u in requests if "peekonly=true" in u]
    container_reads = [
        u for m, u in requests if m == "GET" and "restype=container" in u and "comp=" not in u
    ]
    assert blob_listings == [] and peeks == [] and container_reads == []

    counting.counter.requests.clear()
    again = run.replicate(REPLICATION, options)
    assert again.result.replicated == 0
    requests = counting.counter.requests
    assert any("peekonly=true" in u for _, u in requests)  # queues are compared now
    assert any("restype=container" in u and "comp=list" in u for _, u in requests)
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)


def test_blobs_with_awkward_names_are_copied_server_side(world, tmp_path):
    source, target = _empty_accounts(world)
    container = world.admin_service(source, "blob").get_container_client("awkward")
    container.create_container()
    names = ["with space.txt", "dir/ünïcode ✓.bin", "tilde~hash#query?amp&.dat", "pct%20lit"]
    for name in names:
        container.upload_blob(name, f"content of {name}".encode())
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob"}
    summary = run.replicate(REPLICATION, options)
    blobs = kinds(summary, source.resource.id)["blob"]
    assert blobs.replicated == len(names) and blobs.failed == 0
    assert blobs.client_bytes == 0  # every one copied by the service, not through here
    copied = world.admin_service(target, "blob").get_container_client("awkward")
    for name in names:
        assert copied.download_blob(name).readall() == f"content of {name}".encode()
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)
