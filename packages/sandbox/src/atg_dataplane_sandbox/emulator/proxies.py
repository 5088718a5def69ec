"""The fault-injecting proxies in front of the real emulators (:mod:`.storage_proxy` for
Azurite, :mod:`.cosmos_proxy` for the Cosmos DB server): their listeners, and the endpoints
ARM hands out, which name them.

Each proxy re-opens on the port the store remembers when it is free, so endpoints survive
a restart of the sandbox; ARM resources stored before are re-pointed when a port moved.
The proxies look their upstream up per request (``services.json``, re-read when it
changes), so they follow the real emulators across restarts too.
"""

from __future__ import annotations

from typing import Any

from atg_dataplane_sandbox.emulator import cosmos_proxy, storage_proxy

STORAGE_TYPE = "microsoft.storage/storageaccounts"
COSMOS_TYPE = "microsoft.documentdb/databaseaccounts"


async def open_proxies(emu: Any) -> None:
    """One proxy per Azurite service and per Cosmos DB account of ``services.json``."""
    for kind in storage_proxy.KINDS:
        app = storage_proxy.storage_proxy_app(emu, kind)
        emu.storage_urls[kind] = await emu.listen_remembered(storage_proxy.STATE_SECTION, kind, app)
    for account in sorted(_cosmos_accounts(emu)):
        await open_cosmos_proxy(emu, account)
    _repoint_resources(emu)


async def open_cosmos_proxy(emu: Any, account: str) -> str | None:
    """The URL of the account's proxy, opened on first use; None when ``services.json`` has
    no Cosmos DB server for the account."""
    async with emu.proxy_lock:  # two ARM requests for one account open one listener
        if account not in emu.cosmos_urls:
            if account not in _cosmos_accounts(emu):
                return None
            app = cosmos_proxy.cosmos_proxy_app(emu, account)
            url = await emu.listen_remembered(cosmos_proxy.STATE_SECTION, account, app)
            emu.cosmos_urls[account] = url
            emu.write_emulator_json()
    return str(emu.cosmos_urls[account])


def document_endpoint(emu: Any, account: str) -> str | None:
    url = emu.cosmos_urls.get(account)
    return f"{url}/" if url else None


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


def _cosmos_accounts(emu: Any) -> dict[str, Any]:
    return dict((emu.read_services().get("cosmos") or {}).get("accounts") or {})


def _repoint_resources(emu: Any) -> None:
    """Point stored storage and Cosmos DB accounts at the current proxy URLs."""
    for resource in emu.store.section("resources").values():
        kind = str(resource.get("type", "")).lower()
        props = resource.setdefault("properties", {})
        if kind == STORAGE_TYPE:
            endpoints = {
                **(props.get("primaryEndpoints") or {}),
                **storage_endpoints(emu, resource["name"]),
            }
            _set(emu, props, "primaryEndpoints", endpoints)
        elif kind == COSMOS_TYPE and (endpoint := document_endpoint(emu, resource["name"])):
            _set(emu, props, "documentEndpoint", endpoint)


def _set(emu: Any, props: dict[str, Any], field: str, value: Any) -> None:
    if props.get(field) != value:
        props[field] = value
        emu.store.touch()
