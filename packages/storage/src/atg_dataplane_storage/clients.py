"""Storage SDK clients for one side, built once per account and run.

Every client shares the side's transport (CA bundle, pooled connections sized
to the engine's concurrency, the engine's retry policy) through
``SideContext.client_kwargs()``, and reports the payload bytes it receives to
:func:`counting` (see :class:`PayloadCounter`), so that an item's outcome can
say how many content bytes passed through this process.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atg_dataplane import ResourceBinding
from atg_dataplane.redact import redact
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import RetryPolicy

# Imported with the plugin, not on first use: a run discovers every resource at
# once, and an import inside one discovery thread competes for the interpreter
# with all the others (a storage account's first request came seconds late).
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

_SERVICES = ("blob", "file", "table", "queue")
_CACHE_KEY = "storage.clients"
_KEY_CACHE = "storage.account_key"


class PayloadCounter:
    """Counts content bytes received by the current thread's item.

    Installed as every client's ``raw_response_hook``: a GET answered with a
    blob or file body (``x-ms-blob-type`` / ``x-ms-type: File``) adds its
    ``Content-Length``. Listings, properties (HEAD) and copy requests carry no
    payload and add nothing, so a server-side copy counts zero.
    """

    def __init__(self) -> None:
        self.bytes = 0


_current: contextvars.ContextVar[PayloadCounter | None] = contextvars.ContextVar(
    "atg_dataplane_storage_counter", default=None
)


@contextlib.contextmanager
def counting() -> Iterator[PayloadCounter]:
    """Count the payload bytes this thread's storage clients receive inside the block."""
    counter = PayloadCounter()
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)


def _response_hook(response: Any) -> None:
    counter = _current.get()
    if counter is None:
        return
    request = response.http_request
    if request.method != "GET":
        return
    headers = response.http_response.headers
    is_payload = "x-ms-blob-type" in headers or str(headers.get("x-ms-type", "")).lower() == "file"
    if is_payload:
        counter.bytes += int(headers.get("Content-Length") or 0)


def endpoint(binding: ResourceBinding, service: str) -> str | None:
    """The account's endpoint for ``service`` from its ARM ``primaryEndpoints``.

    For an account of a known cloud without exported endpoints, the public
    naming ``https://{account}.{service}.{suffix}/`` is used.
    """
    endpoints = binding.resource.properties.get("primaryEndpoints") or {}
    url = endpoints.get(service)
    suffix = binding.context.cloud.suffixes.get("storage")
    if not url and suffix and not endpoints:
        url = f"https://{binding.resource.name}.{service}.{str(suffix).lstrip('.')}/"
    return str(url) if url else None


@dataclass
class AccountClients:
    """The service clients of one account on one side (``None``: the service is absent)."""

    binding: ResourceBinding
    blob: Any = None
    file: Any = None
    table: Any = None
    queue: Any = None


def account_clients(binding: ResourceBinding) -> AccountClients:
    clients: AccountClients = binding.cached(_CACHE_KEY, lambda: _build(binding))
    return clients


def client_kwargs(binding: ResourceBinding) -> dict[str, Any]:
    # A fresh dict per client: the transport object is per client, the pooled
    # session behind it is shared by the side.
    return {**binding.context.client_kwargs(), "raw_response_hook": _response_hook}


def _build(binding: ResourceBinding) -> AccountClients:
    credential = binding.context.credential
    clients = AccountClients(binding=binding)
    if url := endpoint(binding, "blob"):
        clients.blob = BlobServiceClient(url, credential, **client_kwargs(binding))
    if url := endpoint(binding, "queue"):
        clients.queue = QueueServiceClient(url, credential, **client_kwargs(binding))
    if url := endpoint(binding, "table"):
        clients.table = _TableService(
            endpoint=url.rstrip("/"), credential=credential, **client_kwargs(binding)
        )
    if url := endpoint(binding, "file"):
        clients.file = _LazyShareService(binding, url)
    return clients


class _TableService(TableServiceClient):
    """azure-data-tables builds its own retry policy whatever it is given: this one uses the
    run's (``retry_policy``, see :mod:`atg_dataplane.retry`) instead."""

    def _configure_policies(self, **kwargs: Any) -> list[Any]:
        policies = super()._configure_policies(**kwargs)
        ours = kwargs.get("retry_policy")
        if ours is None:
            return policies
        return [ours if isinstance(p, RetryPolicy) else p for p in policies]


class _LazyShareService:
    """The File service client, built on first use with the account key.

    Azure Files takes Entra tokens only for file and directory operations with
    the backup intent; shares can be listed and created only with Shared Key
    (or through ARM). The key comes from ``listKeys`` when files are first
    touched, so accounts without shares never need it.
    """

    def __init__(self, binding: ResourceBinding, url: str) -> None:
        self.binding = binding
        self.url = url
        self._client: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.core.credentials import AzureNamedKeyCredential
                from azure.storage.fileshare import ShareServiceClient

                credential = AzureNamedKeyCredential(
                    self.binding.resource.name, account_key(self.binding)
                )
                self._client = ShareServiceClient(
                    self.url, credential, **client_kwargs(self.binding)
                )
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


_key_lock = threading.Lock()


def account_key(binding: ResourceBinding) -> str:
    """The account's first key from ARM ``listKeys``; kept in memory for the run only."""
    with _key_lock:
        cached = binding.state.get(_KEY_CACHE)
        if cached:
            return str(cached)
        from azure.mgmt.storage import StorageManagementClient

        context = binding.context
        resource = binding.resource
        mgmt = context.cached_client(
            "storage.mgmt",
            lambda: StorageManagementClient(
                context.credential, context.subscription_id, **context.arm_kwargs()
            ),
        )
        with scrubbed():
            keys = mgmt.storage_accounts.list_keys(resource.resource_group, resource.name)
        # Newer azure-mgmt-storage models are mappings (``.keys`` is then a method).
        raw = keys.as_dict() if hasattr(keys, "as_dict") else dict(keys)
        value = next((k.get("value") for k in raw.get("keys") or () if k.get("value")), None)
        if not value:
            raise HttpResponseError(message=f"listKeys of {resource.name} returned no key")
        binding.state[_KEY_CACHE] = value
        return str(value)


@contextlib.contextmanager
def scrubbed() -> Iterator[None]:
    """Re-raise storage errors without SAS signatures or keys in their text.

    A copy request carries the source URL with its SAS (``x-ms-copy-source``);
    the service may echo it, and the error keeps the request. Both are scrubbed
    so that neither logs nor the journal ever see a signature.
    """
    try:
        yield
    except HttpResponseError as error:
        _scrub(error)
        raise error.with_traceback(None) from None


def _scrub(error: HttpResponseError) -> None:
    error.message = redact(str(error.message or ""))
    error.args = tuple(redact(str(a)) for a in error.args)
    response = getattr(error, "response", None)
    request = getattr(response, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        for name in ("x-ms-copy-source", "x-ms-copy-source-authorization", "Authorization"):
            if name in headers:
                headers[name] = "REDACTED"
    if request is not None and "sig=" in str(getattr(request, "url", "")):
        request.url = redact(str(request.url))
