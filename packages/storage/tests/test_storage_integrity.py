"""Every copy path keeps the bytes and the headers: encoded blobs and files on the
server-side and the streamed path, SMB properties, copies killed half-way, archived blobs
and snapshots reported rather than skipped, and verification that sees the difference."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
from typing import Any

import pytest
from atg_dataplane.testing import PairRun
from atg_dataplane_storage.common import INCOMPLETE
from azure.storage.blob import ContentSettings as BlobContentSettings
from azure.storage.fileshare import ContentSettings as FileContentSettings
from storage_testing import REPLICATION, Run, kinds, not_matching

pytestmark = pytest.mark.sandbox

SERVER_SIDE = {"storage.server_side": True}
STREAMED = {"storage.server_side": False}
PATHS = pytest.mark.parametrize("path", [SERVER_SIDE, STREAMED], ids=["server-side", "streamed"])

# Compressed text with some variety, so that it is not tiny (two blocks of an append blob).
GZIPPED = gzip.compress(
    b"".join(b"line %d: %s\n" % (n, os.urandom(8).hex().encode()) for n in range(20000))
)
BROTLI_LIKE = os.urandom(40_000)  # bytes labelled br: must not be touched either
HEADERS = {
    "content_type": "text/plain; charset=utf-8",
    "cache_control": "public, max-age=600",
    "content_language": "de-CH",
    "content_disposition": 'attachment; filename="report.txt"',
}


def _md5(data: bytes) -> bytearray:
    return bytearray(hashlib.md5(data).digest())


def _fresh(world: Any, side: str, name: str) -> Any:
    binding = world.binding(side, name, create=True)
    blob = world.admin_service(binding, "blob")
    for container in blob.list_containers():
        blob.delete_container(container.name)
    files = world.admin_service(binding, "file")
    for share in files.list_shares():
        files.delete_share(share.name)
    return binding


@pytest.fixture
def accounts(world: Any) -> tuple[Any, Any]:
    return _fresh(world, "source", "srcstore4"), _fresh(world, "target", "tgtstore4")


def _seed_encoded_blobs(world: Any, source: Any) -> dict[str, bytes]:
    container = world.admin_service(source, "blob").get_container_client("encoded")
    container.create_container()
    contents = {"report.txt.gz": GZIPPED, "page.br": BROTLI_LIKE}
    for name, data in contents.items():
        encoding = "gzip" if name.endswith(".gz") else "br"
        container.upload_blob(
            name,
            data,
            content_settings=BlobContentSettings(
                content_encoding=encoding, content_md5=_md5(data), **HEADERS
            ),
        )
    # An append blob that is encoded too (the streamed path writes it in blocks).
    append = container.get_blob_client("log.gz")
    append.create_append_blob(
        content_settings=BlobContentSettings(content_encoding="gzip", **HEADERS)
    )
    half = len(GZIPPED) // 2
    append.append_block(GZIPPED[:half])
    append.append_block(GZIPPED[half:])
    contents["log.gz"] = GZIPPED
    return contents


@PATHS
def test_encoded_blobs_keep_their_bytes_and_headers(world, accounts, tmp_path, path):
    source, target = accounts
    contents = _seed_encoded_blobs(world, source)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob", **path}
    summary = run.replicate(REPLICATION, options)
    assert kinds(summary, source.resource.id)["blob"].replicated == 3
    copied = world.admin_service(target, "blob").get_container_client("encoded")
    for name, data in contents.items():
        blob = copied.get_blob_client(name)
        assert blob.download_blob(decompress=False).readall() == data, name
        settings = blob.get_blob_properties().content_settings
        assert settings.content_encoding == ("br" if name.endswith(".br") else "gzip")
        for header, value in HEADERS.items():
            assert getattr(settings, header) == value, (name, header)
        if name != "log.gz":  # append blobs carry no MD5 of their own
            assert bytes(settings.content_md5) == bytes(_md5(data))
        assert INCOMPLETE not in blob.get_blob_properties().metadata
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)
    assert run.replicate(REPLICATION, options).result.replicated == 0


def _seed_encoded_files(world: Any, source: Any) -> dict[str, Any]:
    share = world.admin_service(source, "file").get_share_client("encoded")
    share.create_share()
    key = share.create_permission_for_share("O:BAG:SYD:(A;;FA;;;BA)(A;;0x1200a9;;;WD)")
    share.create_directory(
        "reports",
        file_attributes="Hidden",
        file_creation_time=dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        file_permission_key=key,
    )
    src = share.get_file_client("reports/2024.txt.gz")
    src.upload_file(
        GZIPPED,
        content_settings=FileContentSettings(
            content_encoding="gzip", content_md5=_md5(GZIPPED), **HEADERS
        ),
    )
    src.set_http_headers(
        FileContentSettings(content_encoding="gzip", content_md5=_md5(GZIPPED), **HEADERS),
        file_attributes="ReadOnly|Archive",
        file_creation_time=dt.datetime(2021, 6, 7, 8, 9, 10, 123456, tzinfo=dt.UTC),
        file_last_write_time=dt.datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=dt.UTC),
        permission_key=key,
    )
    return {"key": key, "file": src.get_file_properties()}


def _smb(props: Any) -> tuple[Any, ...]:
    return (
        " | ".join(sorted(a.strip() for a in str(props.file_attributes).split("|"))),
        props.creation_time,
        getattr(props, "last_write_time", None),
    )


@PATHS
def test_encoded_files_keep_their_bytes_headers_and_smb_properties(
    world, accounts, tmp_path, path
):
    source, target = accounts
    seeded = _seed_encoded_files(world, source)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "file", **path}
    summary = run.replicate(REPLICATION, options)
    assert kinds(summary, source.resource.id)["file"].replicated == 1
    share = world.admin_service(target, "file").get_share_client("encoded")
    dst = share.get_file_client("reports/2024.txt.gz")
    assert dst.download_file(decompress=False).readall() == GZIPPED
    props = dst.get_file_properties()
    assert props.content_settings.content_encoding == "gzip"
    assert bytes(props.content_settings.content_md5) == bytes(_md5(GZIPPED))
    for header, value in HEADERS.items():
        assert getattr(props.content_settings, header) == value, header
    assert _smb(props) == _smb(seeded["file"])
    assert INCOMPLETE not in props.metadata
    # The descriptor came along, under the target share's own key.
    sddl = world.admin_service(source, "file").get_share_client("encoded")
    assert share.get_permission_for_share(props.permission_key) == (
        sddl.get_permission_for_share(seeded["key"])
    )
    directory = share.get_directory_client("reports").get_directory_properties()
    assert "Hidden" in str(directory.file_attributes)
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)
    assert run.replicate(REPLICATION, options).result.replicated == 0


def test_a_streamed_file_copy_killed_half_way_is_redone(world, accounts, tmp_path):
    """What a kill after the first range leaves (a file at full size, mostly zeros, with the
    copy's marker) is recognised as unfinished and copied again, byte for byte."""
    source, target = accounts
    share = world.admin_service(source, "file").get_share_client("big")
    share.create_share()
    data = os.urandom(9 * 1024 * 1024 + 17)  # three ranges of the streamed copy
    src = share.get_file_client("disk.img")
    src.upload_file(data, content_settings=FileContentSettings(content_md5=_md5(data)))
    run = Run(source, target, tmp_path)
    options = {"storage.services": "file", **STREAMED}
    run.replicate(REPLICATION, options)
    dst = world.admin_service(target, "file").get_share_client("big").get_file_client("disk.img")
    # The state a kill leaves: the file recreated at full size, one range in, marker set.
    dst.create_file(len(data), metadata={INCOMPLETE: "1"})
    dst.upload_range(data[: 4 * 1024 * 1024], offset=0, length=4 * 1024 * 1024)
    dst.set_http_headers(FileContentSettings(content_md5=_md5(data)))
    damaged = run.verify(REPLICATION, options)
    assert [v.name for v in not_matching(damaged)] == ["big/disk.img"]
    again = run.replicate(REPLICATION, options)
    assert kinds(again, source.resource.id)["file"].replicated == 1
    assert dst.download_file().readall() == data
    assert run.verify(REPLICATION, options).fidelity == 100.0


def test_a_page_blob_copy_killed_half_way_is_redone(world, accounts, tmp_path):
    source, target = accounts
    container = world.admin_service(source, "blob").get_container_client("disks")
    container.create_container()
    data = os.urandom(2 * 1024 * 1024)
    page = container.get_blob_client("os.vhd")
    page.create_page_blob(len(data))
    page.upload_page(data, offset=0, length=len(data))
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob", **STREAMED}
    run.replicate(REPLICATION, options)
    dst = world.admin_service(target, "blob").get_blob_client("disks", "os.vhd")
    dst.create_page_blob(len(data), metadata={INCOMPLETE: "1"})  # killed before any page
    assert run.replicate(REPLICATION, options).result.replicated == 1
    assert dst.download_blob().readall() == data
    assert INCOMPLETE not in dst.get_blob_properties().metadata


def test_archived_blobs_and_unasked_snapshots_are_reported_not_skipped(
    world, accounts, tmp_path
):
    source, target = accounts
    container = world.admin_service(source, "blob").get_container_client("cold")
    container.create_container()
    container.upload_blob("online.txt", b"readable")
    archived = container.upload_blob("frozen.txt", b"asleep")
    archived.set_standard_blob_tier("Archive")
    versioned = container.upload_blob("doc.txt", b"v1")
    versioned.create_snapshot()
    versioned.upload_blob(b"v2", overwrite=True)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob"}
    summary = run.replicate(REPLICATION, options)
    blobs = kinds(summary, source.resource.id)["blob"]
    assert (blobs.replicated, blobs.skipped, blobs.failed) == (2, 2, 0)
    reasons = " ".join(blobs.reasons)
    assert "Archive tier" in reasons and "--rehydrate-priority" in reasons
    assert "storage.snapshots=true" in reasons
    report = run.verify(REPLICATION, options)
    assert report.count("not_copyable") == 2 and report.count("missing") == 0
    assert report.fidelity == 100.0, not_matching(report)


def test_verify_sees_changed_contents_and_properties(world, accounts, tmp_path):
    source, target = accounts
    _seed_encoded_blobs(world, source)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob"}
    run.replicate(REPLICATION, options)
    copied = world.admin_service(target, "blob").get_container_client("encoded")
    # Decoded on the way, as the streamed copy once did: other bytes, same headers.
    plain = gzip.decompress(GZIPPED)
    copied.upload_blob(
        "report.txt.gz",
        plain,
        overwrite=True,
        content_settings=BlobContentSettings(content_encoding="gzip", **HEADERS),
    )
    # An encoding dropped.
    copied.get_blob_client("page.br").set_http_headers(
        BlobContentSettings(content_md5=_md5(BROTLI_LIKE), **HEADERS)
    )
    report = run.verify(REPLICATION, options)
    verdicts = {v.name: v for v in not_matching(report)}
    assert set(verdicts) == {"encoded/report.txt.gz", "encoded/page.br"}
    assert "content_encoding" in verdicts["encoded/page.br"].detail
    assert report.fidelity < 100.0


def test_writes_safe_to_repeat_are_repeated_at_once_under_lost_answers(
    world, accounts, tmp_path
):
    """Upserts, staged blocks, ranges, copies from a URL and the creation of containers and
    tables are declared safe to repeat: a lost answer repeats the request, not the whole item.
    The result is exact either way."""
    from azure.data.tables import TableServiceClient

    source, target = accounts
    tables = world.admin_service(source, "table")
    name = "lostanswers"
    tables.delete_table(name)  # no error when it is not there
    table = tables.create_table(name)
    for n in range(150):  # two transactions of one partition
        table.create_entity({"PartitionKey": "p", "RowKey": f"{n:04d}", "n": n})
    container = world.admin_service(source, "blob").get_container_client("lost")
    container.create_container()
    data = os.urandom(9 * 1024 * 1024)
    container.upload_blob(
        "big.bin", data, content_settings=BlobContentSettings(content_md5=_md5(data))
    )
    dst_tables: TableServiceClient = world.admin_service(target, "table")
    dst_tables.delete_table(name)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "blob,table", **STREAMED}
    before = world.sandbox.set_faults("storage:lost=0.3")["injected"]
    try:
        summary = run.replicate(REPLICATION, options)
    finally:
        after = world.sandbox.set_faults("")["injected"]
    lost = after.get("storage", {}).get("lost", 0) - before.get("storage", {}).get("lost", 0)
    assert lost > 0, (before, after)
    attempts = {i["name"]: i["attempts"] for i in run.journal.items(summary.run_id)}
    assert [attempts[n] for n in (name, "lost", "lost/big.bin")] == [1, 1, 1], attempts
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, not_matching(report)
    copied = world.admin_service(target, "blob").get_blob_client("lost", "big.bin")
    assert copied.download_blob().readall() == data


def test_a_server_side_copy_that_stalls_fails_its_item_and_is_aborted(world, accounts, tmp_path):
    source, target = accounts
    share = world.admin_service(source, "file").get_share_client("slow")
    share.create_share()
    data = os.urandom(300_000)
    share.get_file_client("stuck.bin").upload_file(data)
    run = Run(source, target, tmp_path)
    options = {"storage.services": "file", "storage.copy_stall_seconds": 1}
    world.sandbox.set_faults("storage:copy_stall=1")
    try:  # the harness's own run: this one must fail its item
        summary = PairRun.replicate(run, REPLICATION, options)
    finally:
        world.sandbox.set_faults("")
    files = kinds(summary, source.resource.id)["file"]
    assert files.failed == 1
    assert any("made no progress for 1 s and was aborted" in r for r in files.reasons)
    dst = world.admin_service(target, "file").get_share_client("slow").get_file_client("stuck.bin")
    assert dst.get_file_properties().copy.status == "aborted"
    # The next run copies it (an aborted copy is not taken for done).
    assert run.replicate(REPLICATION, options).result.replicated >= 1
    assert dst.download_file().readall() == data


def test_a_copy_left_pending_in_the_target_is_aborted_before_copying_again(
    world, accounts, tmp_path
):
    """A run cut short while Azure was still copying leaves a pending copy, which refuses a
    new one (409 PendingCopyOperation): the next run aborts it first."""
    source, target = accounts
    share = world.admin_service(source, "file").get_share_client("left")
    share.create_share()
    data = os.urandom(200_000)
    src = share.get_file_client("half.bin")
    src.upload_file(data)
    dst_share = world.admin_service(target, "file").get_share_client("left")
    dst_share.create_share()
    dst = dst_share.get_file_client("half.bin")
    from azure.storage.fileshare import FileSasPermissions, generate_file_sas

    sas = generate_file_sas(
        source.resource.name,
        "left",
        ["half.bin"],
        account_key=world.key_credential(source).named_key.key,
        permission=FileSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
    )
    world.sandbox.set_faults("storage:copy_stall=1")
    try:
        dst.start_copy_from_url(f"{src.url}?{sas}")
    finally:
        world.sandbox.set_faults("")
    assert dst.get_file_properties().copy.status == "pending"
    run = Run(source, target, tmp_path)
    summary = run.replicate(REPLICATION, {"storage.services": "file"})
    assert kinds(summary, source.resource.id)["file"].replicated == 1
    assert dst.download_file().readall() == data
    assert dst.get_file_properties().copy.status == "success"
