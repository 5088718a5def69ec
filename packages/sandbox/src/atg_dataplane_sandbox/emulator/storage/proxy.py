"""Fault-injecting reverse proxies in front of Azurite's Blob, Queue and Table endpoints.

One HTTPS listener per Azurite service, in the emulator's process, so the fault spec
(service ``storage``), the admin endpoint and ``set_faults`` apply to storage requests as
to our own services. Requests go on unchanged (:mod:`.upstream_proxy`) to the Azurite URL
of ``services.json``.

``Host`` is forwarded unchanged on purpose: Azurite accepts a cross-account copy only when
the copy source is on "the same Azurite instance", i.e. when the source URL's ``host:port``
equals the ``Host`` of the copy request. Copy sources built from ``primaryEndpoints`` name
the proxy, so the copy request must reach Azurite with the proxy's ``Host``; Azurite then
fetches the source through the proxy (it trusts the sandbox CA via ``NODE_EXTRA_CA_CERTS``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.app import proxy_app
from atg_dataplane_sandbox.emulator.common.upstream_proxy import upstream_of
from atg_dataplane_sandbox.emulator.storage import access
from atg_dataplane_sandbox.emulator.storage.errors import (
    storage_error,
    storage_fault_response,
    storage_malformed,
)

KINDS = ("blob", "queue", "table")
SERVICE = "storage"
STATE_SECTION = "storage_proxy"
"""Store section: the port of each proxy, re-used after a restart when free."""
ACCOUNT_TYPE = "microsoft.storage/storageaccounts"


def _upstream(emu: Any, kind: str) -> str | None:
    url = (emu.read_services().get("azurite") or {}).get(kind)
    return str(url).rstrip("/") if url else None


def storage_proxy_app(emu: Any, kind: str) -> web.Application:
    def error(status: int, message: str) -> web.Response:
        return storage_error(kind, status, "ServerBusy" if status == 503 else "InternalError",
                             message)

    async def forward(request: web.Request) -> web.StreamResponse:
        try:
            access.check(emu, kind, request)
        except access.Refused as refused:
            return storage_error(kind, refused.status, refused.code, refused.message)
        return await upstream_of(emu).forward(request, _upstream(emu, kind), error)

    return proxy_app(
        emu,
        SERVICE,
        partial(storage_fault_response, kind),
        forward,
        partial(storage_malformed, kind),
    )


async def open_storage_proxies(emu: Any) -> None:
    """One proxy per Azurite service; each re-opens on the port the store remembers when it
    is free, and stored accounts are re-pointed when a port moved."""
    for kind in KINDS:
        app = storage_proxy_app(emu, kind)
        emu.storage_urls[kind] = await emu.listen_remembered(STATE_SECTION, kind, app)
    for resource in emu.resources_of_type(ACCOUNT_TYPE):
        props = resource.setdefault("properties", {})
        endpoints = {
            **(props.get("primaryEndpoints") or {}),
            **storage_endpoints(emu, resource["name"]),
        }
        emu.set_property(resource, "primaryEndpoints", endpoints)


def storage_endpoints(emu: Any, account: str) -> dict[str, str]:
    """``primaryEndpoints`` of a storage account: the proxies of the Azurite services
    ``services.json`` lists, and our File service."""
    azurite = emu.read_services().get("azurite") or {}
    endpoints = {
        kind: f"{url}/{account}/" for kind, url in emu.storage_urls.items() if azurite.get(kind)
    }
    if emu.urls.get("file"):  # our File service (Azurite has none)
        endpoints["file"] = f"{emu.urls['file']}/{account}/"
    return endpoints
