"""The emulator's own calls to an account's Cosmos DB server (ARM's ``sqlDatabases`` and
``containers`` are applied there): JSON in, status and JSON out, with the upstream secret.

The server takes any key, so no signature is computed; it answers only requests that carry
the sandbox's upstream secret (:mod:`..services.upstream_auth`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.common.upstream_proxy import upstream_of
from atg_dataplane_sandbox.services.upstream_auth import COSMOS_HEADER, cosmos_secret


def link(*names: str) -> str:
    """``/dbs/{db}/colls/{coll}/...`` from alternating kinds and names, each name quoted."""
    parts = [part if index % 2 == 0 else quote(part, safe="") for index, part in enumerate(names)]
    return "/" + "/".join(parts)


async def call(
    emu: Any,
    account: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send one request to ``account``'s server; return its status and JSON body (or None)."""
    status, found, _ = await _request(emu, account, method, path, body, headers)
    return status, found


async def read_all(emu: Any, account: str, path: str, field: str) -> list[dict[str, Any]]:
    """Every resource of a feed (``/dbs``, ``.../colls``, ``.../udfs``), page after page;
    an empty list when its parent does not exist."""
    found: list[dict[str, Any]] = []
    continuation: str | None = None
    while True:
        headers = {"x-ms-continuation": continuation} if continuation else None
        status, body, answer = await _request(emu, account, "GET", path, None, headers)
        if status == 404:
            return []
        found.extend((body or {}).get(field) or [])
        continuation = answer.get("x-ms-continuation")
        if not continuation:
            return found


async def _request(
    emu: Any,
    account: str,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str] | None,
) -> tuple[int, Any, dict[str, str]]:
    accounts = (emu.read_services().get("cosmos") or {}).get("accounts") or {}
    base = (accounts.get(account) or {}).get("endpoint")
    if not base:
        raise AzureError(
            409,
            "DatabaseAccountNotInSandbox",
            f"The account '{account}' has no Cosmos DB server in this sandbox.",
        )
    sent = {
        COSMOS_HEADER: cosmos_secret(emu.directory),
        "authorization": "type=master&ver=1.0&sig=sandbox",
        "x-ms-version": "2020-07-15",
        **(headers or {}),
    }
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["content-type"] = "application/json"
    url = str(base).rstrip("/") + path
    try:
        session = upstream_of(emu).session()
        async with session.request(method, url, data=data, headers=sent) as answer:
            text = await answer.read()
            status, answered = answer.status, dict(answer.headers)
    except aiohttp.ClientError as exc:
        raise AzureError(
            503, "ServiceUnavailable", f"The Cosmos DB server did not answer: {exc}"
        ) from None
    try:
        return status, (json.loads(text) if text else None), answered
    except ValueError:
        return status, None, answered
