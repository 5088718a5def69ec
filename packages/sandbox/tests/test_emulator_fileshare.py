"""The emulated Azure Files service, driven only through azure-storage-file-share.

Shared Key, service SAS and Entra tokens (backup intent) are each accepted exactly where
Azure accepts them and refused otherwise; shares, directories, files, ranges, listings in
pages and copies from a SAS URL behave as the SDK expects. Faults of the spec's service
``storage`` reach it, shaped as Azure Storage answers them, and the SDK retries them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from atg_dataplane_sandbox.emulator import EmulatorHandle, start_emulator
from atg_dataplane_sandbox.emulator.testing import credential
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.fileshare import (
    ContentSettings,
    FileSasPermissions,
    ShareFileClient,
    ShareServiceClient,
    generate_file_sas,
)
from azure.storage.fileshare import LinearRetry as FileLinearRetry
from faults_testing import fast_storage_retry, injected, until_injected

KEYS = {
    "srcfiles": base64.b64encode(os.urandom(64)).decode(),
    "tgtfiles": base64.b64encode(os.urandom(64)).decode(),
}


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    directory = tmp_path_factory.mktemp("sandbox-files")
    (directory / "services.json").write_text(
        json.dumps(
            {
                "azurite": {
                    "accounts": {
                        "srcfiles": {"tenant": "source"},
                        "tgtfiles": {"tenant": "target"},
                    }
                }
            }
        )
    )
    for name, key in KEYS.items():
        _write_secret(directory / "secrets" / "azurite" / name, key)
    handle = start_emulator(directory, fault_seed=20261124)
    yield handle
    handle.stop()


def _url(emu: EmulatorHandle, account: str) -> str:
    return f"{emu.describe()['file']}/{account}/"


def _service(
    emu: EmulatorHandle, account: str, key: str | None = None, **kwargs: Any
) -> ShareServiceClient:
    return ShareServiceClient(
        _url(emu, account),
        AzureNamedKeyCredential(account, key or KEYS[account]),
        connection_verify=str(emu.ca_path),
        **kwargs,
    )


def _sas(account: str, share: str, path: str, **kwargs: object) -> str:
    expiry = kwargs.pop("expiry", dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    return generate_file_sas(
        account,
        share,
        path.split("/"),
        account_key=KEYS[account],
        permission=kwargs.pop("permission", FileSasPermissions(read=True)),
        expiry=expiry,
    )


def test_shares_directories_and_files_with_shared_key(emu: EmulatorHandle) -> None:
    service = _service(emu, "srcfiles")
    service.create_share("docs", quota=7, metadata={"team": "finance"})
    with pytest.raises(ResourceExistsError):
        service.create_share("docs")
    share = service.get_share_client("docs")
    props = share.get_share_properties()
    assert (props.quota, props.metadata) == (7, {"team": "finance"})
    share.set_share_quota(9)
    share.set_share_metadata({"team": "ops"})
    assert share.get_share_properties().quota == 9

    share.create_directory("reports", metadata={"kind": "dir"})
    with pytest.raises(ResourceNotFoundError):
        share.create_directory("missing/child")
    data = os.urandom(300_000)
    file = share.get_file_client("reports/q1.bin")
    file.upload_file(
        data,
        metadata={"origin": "test"},
        content_settings=ContentSettings(content_type="application/x-test"),
    )
    got = file.get_file_properties()
    assert got.size == len(data)
    assert got.metadata == {"origin": "test"}
    assert got.content_settings.content_type == "application/x-test"
    assert file.download_file().readall() == data
    assert file.download_file(offset=1000, length=5000).readall() == data[1000:6000]
    empty = share.get_file_client("empty.txt")
    empty.upload_file(b"")
    assert empty.download_file().readall() == b""

    for n in range(7):
        share.get_file_client(f"reports/f{n}.txt").upload_file(b"x")
    pages = (
        share.get_directory_client("reports")
        .list_directories_and_files(results_per_page=3)
        .by_page()
    )
    names = [[e.name for e in page] for page in pages]
    assert len(names) == 3 and sum(len(p) for p in names) == 8
    root = {(e.name, e.is_directory) for e in share.list_directories_and_files()}
    assert root == {("reports", True), ("empty.txt", False)}
    assert {s.name for s in service.list_shares(include_metadata=True)} == {"docs"}

    file.set_file_metadata({"changed": "yes"})
    assert file.get_file_properties().metadata == {"changed": "yes"}
    file.delete_file()
    with pytest.raises(ResourceNotFoundError):
        file.get_file_properties()


def test_a_wrong_shared_key_is_refused(emu: EmulatorHandle) -> None:
    wrong = base64.b64encode(os.urandom(64)).decode()
    with pytest.raises(ClientAuthenticationError) as caught:
        list(_service(emu, "srcfiles", wrong).list_shares())
    assert caught.value.error_code == "AuthenticationFailed"


def test_sas_allows_what_it_signs_and_nothing_else(emu: EmulatorHandle) -> None:
    service = _service(emu, "srcfiles")
    share = service.get_share_client("sas")
    share.create_share()
    share.get_file_client("a.txt").upload_file(b"alpha")
    share.get_file_client("b.txt").upload_file(b"beta")
    url = share.get_file_client("a.txt").url
    ca = str(emu.ca_path)

    reader = ShareFileClient.from_file_url(
        f"{url}?{_sas('srcfiles', 'sas', 'a.txt')}", connection_verify=ca
    )
    assert reader.download_file().readall() == b"alpha"
    with pytest.raises(HttpResponseError) as caught:
        reader.upload_file(b"overwrite")
    assert caught.value.status_code == 403

    other = share.get_file_client("b.txt").url
    wrong_file = ShareFileClient.from_file_url(
        f"{other}?{_sas('srcfiles', 'sas', 'a.txt')}", connection_verify=ca
    )
    with pytest.raises(HttpResponseError) as caught:
        wrong_file.download_file().readall()
    assert caught.value.status_code == 403

    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    expired = ShareFileClient.from_file_url(
        f"{url}?{_sas('srcfiles', 'sas', 'a.txt', expiry=past)}", connection_verify=ca
    )
    with pytest.raises(HttpResponseError) as caught:
        expired.download_file().readall()
    assert caught.value.status_code == 403


def test_copy_from_a_sas_url_into_another_account(emu: EmulatorHandle) -> None:
    source = _service(emu, "srcfiles").get_share_client("copysrc")
    source.create_share()
    data = os.urandom(70_000)
    src_file = source.get_file_client("data.bin")
    src_file.upload_file(
        data, metadata={"m": "1"}, content_settings=ContentSettings(content_type="application/pdf")
    )
    target = _service(emu, "tgtfiles").get_share_client("copydst")
    target.create_share()
    dst = target.get_file_client("data.bin")
    started = dst.start_copy_from_url(f"{src_file.url}?{_sas('srcfiles', 'copysrc', 'data.bin')}")
    assert started["copy_status"] == "success"
    props = dst.get_file_properties()
    assert (props.metadata, props.content_settings.content_type) == ({"m": "1"}, "application/pdf")
    assert props.copy.status == "success"
    assert dst.download_file().readall() == data
    with pytest.raises(HttpResponseError) as caught:
        target.get_file_client("nosas.bin").start_copy_from_url(src_file.url)
    assert caught.value.error_code == "CannotVerifyCopySource"


SDDL = "O:BAG:SYD:(A;;FA;;;BA)(A;;0x1200a9;;;WD)"
CREATED = dt.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
WRITTEN = dt.datetime(2022, 8, 9, 10, 11, 12, 654321, tzinfo=dt.UTC)


def _smb(props: Any) -> tuple[Any, ...]:
    return (
        str(props.file_attributes),
        props.creation_time.replace(tzinfo=dt.UTC),
        props.last_write_time.replace(tzinfo=dt.UTC),
    )


def test_smb_properties_are_kept_set_and_copied_from_the_source(emu: EmulatorHandle) -> None:
    source = _service(emu, "srcfiles").get_share_client("smbsrc")
    source.create_share()
    key = source.create_permission_for_share(SDDL)
    assert source.get_permission_for_share(key) == SDDL
    assert source.create_permission_for_share(SDDL) == key  # one key per descriptor
    directory = source.create_directory(
        "docs", file_attributes="Hidden", file_creation_time=CREATED, file_permission_key=key
    )
    assert "Hidden" in str(directory.get_directory_properties().file_attributes)
    src = source.get_file_client("docs/report.txt")
    src.create_file(
        5,
        file_attributes="ReadOnly|Archive",
        file_creation_time=CREATED,
        file_last_write_time=WRITTEN,
        permission_key=key,
    )
    props = src.get_file_properties()
    assert _smb(props) == ("ReadOnly | Archive", CREATED, WRITTEN)
    assert props.permission_key == key
    # Writing the contents moves the last-write time; setting it explicitly puts it back.
    src.upload_range(b"hello", offset=0, length=5)
    assert src.get_file_properties().last_write_time.replace(tzinfo=dt.UTC) != WRITTEN
    src.set_http_headers(
        ContentSettings(content_type="text/plain"),
        file_attributes="ReadOnly|Archive",
        file_last_write_time=WRITTEN,
        file_creation_time="preserve",
        permission_key=key,
    )
    assert _smb(src.get_file_properties()) == ("ReadOnly | Archive", CREATED, WRITTEN)

    target = _service(emu, "tgtfiles").get_share_client("smbdst")
    target.create_share()
    dst = target.get_file_client("report.txt")
    sas = _sas("srcfiles", "smbsrc", "docs/report.txt")
    dst.start_copy_from_url(
        f"{src.url}?{sas}",
        file_attributes="source",
        file_creation_time="source",
        file_last_write_time="source",
        permission_key="source",
        ignore_read_only=True,
    )
    copied = dst.get_file_properties()
    assert _smb(copied) == ("ReadOnly | Archive", CREATED, WRITTEN)
    # The descriptor is stored in the target share under a key of its own.
    assert target.get_permission_for_share(copied.permission_key) == SDDL
    plain = target.get_file_client("plain.txt")
    plain.start_copy_from_url(f"{src.url}?{sas}")
    assert str(plain.get_file_properties().file_attributes) == "Archive"
    with pytest.raises(HttpResponseError) as caught:
        target.get_file_client("bad.txt").create_file(1, file_attributes="Sparkly")
    assert caught.value.status_code == 400
    with pytest.raises(HttpResponseError):
        target.get_file_client("bad.txt").create_file(1, permission_key="1*404")


def test_entra_tokens_need_backup_intent_the_right_tenant_and_file_roles(
    emu: EmulatorHandle,
) -> None:
    service = _service(emu, "srcfiles")
    share = service.get_share_client("oauth")
    share.create_share()
    share.get_file_client("f.txt").upload_file(b"token me")
    ca = str(emu.ca_path)
    url = share.get_file_client("f.txt").url

    admin = credential(emu, "source", "admin")
    token = admin.get_token("https://storage.azure.com/.default").token
    no_intent = requests.get(
        url, headers={"Authorization": f"Bearer {token}", "x-ms-version": "2025-05-05"}, verify=ca
    )
    assert no_intent.status_code == 400
    assert no_intent.headers["x-ms-error-code"] == "MissingRequiredHeader"

    # The sandbox grants no Azure Files data roles: a valid token is still refused.
    with_intent = ShareFileClient.from_file_url(
        url, credential=admin, token_intent="backup", connection_verify=ca
    )
    with pytest.raises(HttpResponseError) as caught:
        with_intent.download_file().readall()
    assert caught.value.error_code == "AuthorizationPermissionMismatch"

    other_tenant = ShareFileClient.from_file_url(
        url,
        credential=credential(emu, "target", "admin"),
        token_intent="backup",
        connection_verify=ca,
    )
    with pytest.raises(HttpResponseError) as caught:
        other_tenant.download_file().readall()
    assert caught.value.status_code == 401

    shares_by_token = ShareServiceClient(
        _url(emu, "srcfiles"), credential=admin, token_intent="backup", connection_verify=ca
    )
    with pytest.raises(HttpResponseError) as caught:
        list(shares_by_token.list_shares())
    assert caught.value.status_code == 403


def test_injected_errors_are_shaped_as_storage_answers_them(
    emu: EmulatorHandle, faults: Any
) -> None:
    share = _service(emu, "srcfiles", retry_total=0).get_share_client("shaped")
    share.create_share()
    before = injected(emu, "storage", "429")
    # Azure Storage throttles with 503 ServerBusy, never 429: the fault counts as 429.
    faults("storage:429=1,retry_after=2")
    with pytest.raises(HttpResponseError) as caught:
        share.get_share_properties()
    assert (caught.value.status_code, caught.value.error_code) == (503, "ServerBusy")
    assert caught.value.response.headers["Retry-After"] == "2"
    assert "<Code>ServerBusy</Code>" in caught.value.response.text()
    assert injected(emu, "storage", "429") == before + 1
    faults("storage:500=1")
    with pytest.raises(HttpResponseError) as caught:
        share.get_share_properties()
    assert (caught.value.status_code, caught.value.error_code) == (500, "InternalError")


@pytest.mark.parametrize("label", ["429", "500", "503", "drop"])
def test_faults_are_retried_by_the_sdk(emu: EmulatorHandle, faults: Any, label: str) -> None:
    service = _service(emu, "srcfiles", **fast_storage_retry(FileLinearRetry))
    share = service.create_share(f"faults-{label}")
    faults(f"storage:{label}=0.3,retry_after=0.01")

    def roundtrip(i: int) -> None:
        data = os.urandom(1000 + i)
        file = share.get_file_client(f"f{i}.bin")
        file.upload_file(data, metadata={"i": str(i)})
        assert file.download_file().readall() == data
        assert file.get_file_properties().metadata == {"i": str(i)}

    until_injected(emu, "storage", label, roundtrip)


def test_latency_applies_to_every_request(emu: EmulatorHandle, faults: Any) -> None:
    share = _service(emu, "srcfiles").create_share("slow")
    faults("storage:latency=100ms")
    started = time.monotonic()
    for _ in range(4):
        share.get_share_properties()
    assert time.monotonic() - started >= 4 * 0.1 * 0.9  # a lower bound only
