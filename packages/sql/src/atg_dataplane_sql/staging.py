"""The staging container packages pass through (``sql.staging_account``), reached with the
account's key (ARM ``listKeys``), from which each export and import gets a SAS of its own.

The key and the SAS are secrets: they live in memory only, the SAS goes to Azure in the
export and import requests' ``storageKey``, and neither reaches a log, journal, error or
report (the blob URLs this module hands out carry none).

The account belongs to one tenant: the side whose credential may list its keys (the
target's unless ``sql.staging_side`` says otherwise) makes the SAS, and the other side's
operations use the same SAS (a SAS works across tenants). A run's first binding of that
side makes it; the other side finds it here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from atg_dataplane import ItemError, ResourceBinding
from atg_dataplane.models import parse_resource_id
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.storage import StorageManagementClient
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    ContainerClient,
    generate_blob_sas,
)

from atg_dataplane_sql.package import Package, RangedReader

log = logging.getLogger(__name__)

SAS_HOURS = 4
"""How long the SAS of one export or import lasts: a large database's export takes hours,
and a SAS cannot be revoked, so no longer."""
DEFAULT_CONTAINER = "atg-dataplane-sql"
READ_BUFFER = 4 * 1024 * 1024
_made: dict[tuple[str, str], Staging | ItemError] = {}
"""(account id, container) -> the staging, or why the side holding it could not make it."""
_lock = threading.Lock()


class Staging:
    """The container, reached with the account's key (in memory only): each export and
    import gets a SAS of its own, on its one blob, with only what it needs (create and
    write, or read), lasting :data:`SAS_HOURS`."""

    def __init__(self, account: str, blob_endpoint: str, container: str, key: str) -> None:
        self.account = account
        self.container = container
        self.url = blob_endpoint.rstrip("/") + "/" + container
        self._key = key

    def storage_key(self, blob: str, write: bool) -> str:
        """What an export (``write``) or an import takes as ``storageKey``."""
        permission = BlobSasPermissions(create=True, write=True) if write else (
            BlobSasPermissions(read=True))
        return "?" + generate_blob_sas(
            self.account,
            self.container,
            blob,
            account_key=self._key,
            permission=permission,
            expiry=datetime.now(UTC) + timedelta(hours=SAS_HOURS),
        )

    def blob_url(self, name: str) -> str:
        """The blob's URL, without a SAS (what may be shown)."""
        return f"{self.url}/{name}"

    def blob(self, name: str, binding: ResourceBinding) -> BlobClient:
        return BlobClient.from_blob_url(
            self.blob_url(name),
            credential={"account_name": self.account, "account_key": self._key},
            **binding.context.client_kwargs(),
        )

    def name(self, server: str, database: str, what: str) -> str:
        """A blob name of its own for each export (two runs never meet)."""
        stamp = f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        return f"{server}/{database}-{stamp}-{what}.bacpac"

    def read(self, name: str, binding: ResourceBinding) -> Package:
        """The package, read through ranges: its directory and model, parts on demand."""
        client = self.blob(name, binding)
        size = int(client.get_blob_properties().size)

        def ranged(offset: int, length: int) -> bytes:
            return bytes(client.download_blob(offset=offset, length=length).readall())

        try:
            return Package(io.BufferedReader(RangedReader(size, ranged), READ_BUFFER))
        except ValueError as exc:
            raise ItemError(f"the export {name} is not a package Azure imports: {exc}",
                            remedy="re-run; report it if it stays") from None

    def delete(self, names: list[str], binding: ResourceBinding) -> None:
        """Delete each blob (gone already is fine); one that cannot be is logged, by name,
        and does not hide the copy's own outcome."""
        for name in names:
            try:
                with contextlib.suppress(ResourceNotFoundError):
                    self.blob(name, binding).delete_blob()
            except Exception as exc:  # clean-up: the outcome stands
                log.warning("staging blob %s was not deleted (%s): delete it by hand",
                            name, type(exc).__name__)


def staging(binding: ResourceBinding, options: Mapping[str, Any]) -> Staging:
    """The run's staging container (made by the side that holds the account)."""
    account_id = str(options.get("sql.staging_account") or "")
    if not account_id:
        raise ItemError(
            "no staging storage account is configured",
            remedy="set sql.staging_account to the ARM id of a storage account both "
            "servers' import/export service can reach (a SAS is made from its key)",
        )
    side = str(options.get("sql.staging_side") or "target")
    container = str(options.get("sql.staging_container") or DEFAULT_CONTAINER)
    key = (account_id.lower(), container)
    if binding.side == side:

        def make() -> Staging:
            try:
                made = _make(binding, account_id, container)
            except ItemError as exc:
                with _lock:
                    _made[key] = exc
                raise
            with _lock:
                _made[key] = made
            return made

        found: Staging = binding.context.cached_client(f"sql-staging:{key}", make)
        return found
    with _lock:
        known = _made.get(key)
    if isinstance(known, ItemError):
        raise known
    if known is None:
        raise ItemError(
            f"the staging account is read with the {side} side's credential, which this "
            "run has not used yet",
            remedy="run verify (or replicate) for the pair, not for one side",
        )
    return known


def _make(binding: ResourceBinding, account_id: str, container: str) -> Staging:
    try:
        parts = parse_resource_id(account_id)
    except ValueError as exc:
        raise ItemError(str(exc), remedy="give sql.staging_account as an ARM id") from None
    storage = binding.context.mgmt(StorageManagementClient, parts["subscription"])
    try:
        account = storage.storage_accounts.get_properties(parts["group"], parts["name"])
        keys = storage.storage_accounts.list_keys(parts["group"], parts["name"]).as_dict()
    except (ResourceNotFoundError, HttpResponseError) as exc:
        raise ItemError(
            f"the staging account {parts['name']} cannot be used: "
            f"{getattr(exc, 'reason', '') or type(exc).__name__}",
            remedy="check sql.staging_account and that this side may list its keys "
            "(Microsoft.Storage/storageAccounts/listKeys/action)",
        ) from None
    key = str(keys["keys"][0]["value"])
    client = ContainerClient.from_container_url(
        account.primary_endpoints.blob.rstrip("/") + "/" + container,
        credential={"account_name": parts["name"], "account_key": key},
        **binding.context.client_kwargs(),
    )
    if not client.exists():
        try:
            client.create_container()
        except HttpResponseError as exc:
            if exc.status_code != 409:
                raise
    return Staging(parts["name"], account.primary_endpoints.blob, container, key)
