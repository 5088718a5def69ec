"""Short-lived, read-only SAS for one source blob or file, so the target can pull it.

A user-delegation SAS (signed with a key the source's own Entra credential
obtains; no account key involved) is preferred; when the credential may not
ask for one, or the service does not honour it, an account-key SAS is signed
with a key from ARM ``listKeys``. Each SAS names a single blob or file, allows
read only and expires after ``storage.sas_minutes``. The choice is made once
per source account and run, and a SAS is never logged or put into an error.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from urllib.parse import quote

from atg_dataplane import ItemError, ResourceBinding
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from atg_dataplane_storage.clients import account_clients, account_key, client_kwargs
from atg_dataplane_storage.options import StorageOptions

_STATE = "storage.sas"
_lock = threading.Lock()
# A user delegation key is renewed when less than this is left of it.
_RENEW_BEFORE = dt.timedelta(minutes=10)


class SourceSigner:
    """Signs read-only SAS URLs for blobs and files of one source account."""

    def __init__(self, binding: ResourceBinding, options: StorageOptions) -> None:
        self.binding = binding
        self.options = options
        self.method: str | None = None if options.source_sas == "auto" else options.source_sas
        self._delegation_key: Any = None
        self._delegation_expiry: dt.datetime | None = None
        self._lock = threading.Lock()
        self.why_account_key = ""
        self._notice_taken = False
        self._containers: dict[str, str] = {}

    # -- public -------------------------------------------------------------
    def take_notice(self) -> str:
        """Why account-key SAS are used, once per run (then empty), for the summary."""
        with self._lock:
            notice, self._notice_taken = (
                ("", True) if self._notice_taken else (self.why_account_key, bool(self.method))
            )
            return notice

    def blob_url(
        self, container: str, blob: str, *, tags: bool = False, snapshot: str | None = None
    ) -> str:
        """The blob's (or snapshot's) URL with a SAS the target service can read it with."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        service = account_clients(self.binding).blob
        permission = BlobSasPermissions(read=True, tag=tags)
        url = self._blob_location(service, container, blob)
        start, expiry = self._window()
        if self._method(container, blob) == "user_delegation":
            token = generate_blob_sas(
                service.account_name,
                container,
                blob,
                user_delegation_key=self._user_delegation_key(),
                permission=permission,
                start=start,
                expiry=expiry,
                snapshot=snapshot,
            )
        else:
            token = generate_blob_sas(
                service.account_name,
                container,
                blob,
                account_key=account_key(self.binding),
                permission=permission,
                start=start,
                expiry=expiry,
                snapshot=snapshot,
            )
        if snapshot:
            return f"{url}?snapshot={quote(snapshot)}&{token}"
        return f"{url}?{token}"

    def file_url(self, share: str, path: str) -> str:
        """The file's URL with an account-key SAS (Azure Files has no user delegation SAS)."""
        from azure.storage.fileshare import FileSasPermissions, generate_file_sas

        service = account_clients(self.binding).file
        start, expiry = self._window()
        token = generate_file_sas(
            service.account_name,
            share,
            path.split("/"),
            account_key=account_key(self.binding),
            permission=FileSasPermissions(read=True),
            start=start,
            expiry=expiry,
        )
        url = service.get_share_client(share).get_file_client(path).url
        return f"{url}?{token}"

    # -- internals ----------------------------------------------------------
    def _blob_location(self, service: Any, container: str, blob: str) -> str:
        """The blob's URL without a query, from its container's (building a blob client
        per blob only for its URL costs as much CPU as signing the SAS)."""
        base = self._containers.get(container)
        if base is None:
            base = self._containers[container] = service.get_container_client(container).url
        if "?" in base:  # a client with a query of its own: let the SDK place the name
            return str(service.get_blob_client(container, blob).url)
        return f"{base}/{quote(blob, safe='~/')}"

    def _window(self) -> tuple[dt.datetime, dt.datetime]:
        now = dt.datetime.now(dt.UTC)
        # Start in the past: the two services' clocks may disagree by minutes.
        return now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=self.options.sas_minutes)

    def _method(self, container: str, blob: str) -> str:
        with self._lock:
            if self.method is None:
                self.method = self._probe(container, blob)
            return self.method

    def _probe(self, container: str, blob: str) -> str:
        """Whether a user delegation SAS works for this account (one HEAD, no payload)."""
        from azure.storage.blob import BlobClient, BlobSasPermissions, generate_blob_sas

        service = account_clients(self.binding).blob
        try:
            key = self._user_delegation_key_locked()
        except (HttpResponseError, ClientAuthenticationError) as error:
            self.why_account_key = (
                f"no user delegation key ({getattr(error, 'status_code', '')}); "
                "signed with an account key from listKeys"
            )
            return "account_key"
        start, expiry = self._window()
        token = generate_blob_sas(
            service.account_name,
            container,
            blob,
            user_delegation_key=key,
            permission=BlobSasPermissions(read=True),
            start=start,
            expiry=expiry,
        )
        url = service.get_blob_client(container, blob).url
        probe = BlobClient.from_blob_url(
            f"{url}?{token}", **client_kwargs(self.binding)
        )
        try:
            probe.get_blob_properties()
        except HttpResponseError as error:
            if error.status_code in (401, 403):
                self.why_account_key = (
                    "the source refused a user delegation SAS; signed with an account key"
                )
                return "account_key"
            if error.status_code != 404:
                raise
        return "user_delegation"

    def _user_delegation_key(self) -> Any:
        with self._lock:
            return self._user_delegation_key_locked()

    def _user_delegation_key_locked(self) -> Any:
        now = dt.datetime.now(dt.UTC)
        if self._delegation_key is None or (
            self._delegation_expiry is not None and self._delegation_expiry - now < _RENEW_BEFORE
        ):
            expiry = now + dt.timedelta(minutes=self.options.sas_minutes + 15)
            service = account_clients(self.binding).blob
            self._delegation_key = service.get_user_delegation_key(
                now - dt.timedelta(minutes=5), expiry
            )
            self._delegation_expiry = expiry
        return self._delegation_key


def signer(binding: ResourceBinding, options: StorageOptions) -> SourceSigner:
    with _lock:
        existing = binding.state.get(_STATE)
        if existing is None:
            existing = binding.state[_STATE] = SourceSigner(binding, options)
        return existing


def require_side(binding: ResourceBinding, service: str) -> Any:
    client = getattr(account_clients(binding), service)
    if client is None:
        raise ItemError(
            f"{binding.resource.name} has no {service} endpoint in its ARM properties",
            remedy="export the account with its properties (az storage account show)",
        )
    return client
