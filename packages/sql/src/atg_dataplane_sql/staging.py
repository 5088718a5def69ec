"""The staging container packages pass through (``sql.staging_account``), reached with a
SAS made for this run from the account's key (ARM ``listKeys``) and good for
:data:`SAS_HOURS`.

The SAS is a secret: it lives in memory only, goes to Azure in the export and import
requests' ``storageKey`` and to the blob clients, and never into a log, journal, error
or report (the blob URLs this module hands out carry none).

The account belongs to one tenant: the side whose credential may list its keys (the
target's unless ``sql.staging_side`` says otherwise) makes the SAS, and the other side's
operations use the same SAS (a SAS works across tenants). A run's first binding of that
side makes it; the other side finds it here.
"""

from __future__ import annotations

import contextlib
import io
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
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)

from atg_dataplane_sql.package import Package, RangedReader

SAS_HOURS = 6
"""Long enough for a large export and its import; a SAS cannot be revoked, so no more."""
DEFAULT_CONTAINER = "atg-dataplane-sql"
READ_BUFFER = 4 * 1024 * 1024
_made: dict[str, Staging] = {}
_lock = threading.Lock()


class Staging:
    def __init__(self, account: str, blob_endpoint: str, container: str, key: str) -> None:
        self.account = account
        self.container = container
        self.url = blob_endpoint.rstrip("/") + "/" + container
        self.made = time.monotonic()
        self._sas = generate_container_sas(
            account,
            container,
            account_key=key,
            permission=ContainerSasPermissions(read=True, write=True, create=True, delete=True),
            expiry=datetime.now(UTC) + timedelta(hours=SAS_HOURS),
        )

    def storage_key(self) -> str:
        """What export and import take as ``storageKey`` (with ``SharedAccessKey``)."""
        return "?" + self._sas

    def blob_url(self, name: str) -> str:
        """The blob's URL, without the SAS (what may be shown)."""
        return f"{self.url}/{name}"

    def blob(self, name: str, binding: ResourceBinding) -> BlobClient:
        return BlobClient.from_blob_url(
            f"{self.blob_url(name)}?{self._sas}", **binding.context.client_kwargs()
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

        return Package(io.BufferedReader(RangedReader(size, ranged), READ_BUFFER))

    def delete(self, name: str, binding: ResourceBinding) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.blob(name, binding).delete_blob()


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
    if binding.side == side:
        return binding.context.cached_client(
            f"sql-staging:{account_id}", lambda: _make(binding, account_id, options)
        )
    with _lock:
        found = _made.get(account_id.lower())
    if found is None:
        raise ItemError(
            f"the staging account is read with the {side} side's credential, which this "
            "run has not used yet",
            remedy="run verify (or replicate) for the pair, not for one side",
        )
    return found


def _make(binding: ResourceBinding, account_id: str, options: Mapping[str, Any]) -> Staging:
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
    container = str(options.get("sql.staging_container") or DEFAULT_CONTAINER)
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
    made = Staging(parts["name"], account.primary_endpoints.blob, container, key)
    with _lock:
        _made[account_id.lower()] = made
    return made
