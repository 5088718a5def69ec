"""Fault-injecting reverse proxies in front of the Cosmos DB server (fault service ``cosmos``).

One HTTPS listener per Cosmos DB account (the SDK tells accounts apart by ``host:port``),
forwarding unchanged (:mod:`.upstream_proxy`) to the account's endpoint in
``services.json``. ARM's ``documentEndpoint`` names the proxy.

The server takes any key, or none: the proxy lets through only what Cosmos DB would
(:mod:`.cosmos_access`: the account's keys, or an Entra ID token its native RBAC allows),
and answers the rest with Cosmos DB's 401 or 403. The server in turn answers only requests
that carry the sandbox's upstream secret (``x-sandbox-upstream``, read from the sandbox
directory): the proxy adds it to every request it forwards, in place of any the client sent.

The account document (``GET /``) names the endpoints the SDK uses from then on
(``writableLocations``/``readableLocations``); @vercel/cosmosdb-server writes its own
``host:port`` there, whatever ``Host`` said, so the proxy puts the address the client
called instead. Injected errors are shaped as Cosmos DB answers them: JSON
``{"code", "message"}`` with ``x-ms-activity-id``; 429 carries ``x-ms-retry-after-ms`` and
``x-ms-substatus: 3200`` (the SDK waits that long, up to 9 times), 503 is
``ServiceUnavailable`` (the SDK retries it once per region).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.app import proxy_app
from atg_dataplane_sandbox.emulator.common.upstream_proxy import upstream_of
from atg_dataplane_sandbox.emulator.cosmos import access as cosmos_access
from atg_dataplane_sandbox.emulator.cosmos import scripts as cosmos_scripts
from atg_dataplane_sandbox.emulator.cosmos.auth import resource_of
from atg_dataplane_sandbox.emulator.cosmos.errors import cosmos_error
from atg_dataplane_sandbox.services.upstream_auth import COSMOS_HEADER, cosmos_secret

SERVICE = "cosmos"
STATE_SECTION = "cosmos_proxy"
"""Store section: the port of each account's proxy, re-used after a restart when free."""
ACCOUNT_TYPE = "microsoft.documentdb/databaseaccounts"

FAULTS = {
    429: ("TooManyRequests", "Request rate is large. More Request Units may be needed, so no "
          "changes were made. Please retry this request later. Learn more: "
          "http://aka.ms/cosmosdb-error-429"),
    500: ("InternalServerError", "Unknown server error occurred when processing this request. "
          "(injected fault)"),
    503: ("ServiceUnavailable", "Service is currently unavailable. More info: "
          "https://aka.ms/cosmosdb-tsg-service-unavailable (injected fault)"),
}


def cosmos_fault_response(status: int, retry_after: float) -> web.Response:
    code, message = FAULTS.get(status, FAULTS[500])
    headers = {}
    if status == 429:
        headers = {"x-ms-retry-after-ms": str(round(retry_after * 1000)), "x-ms-substatus": "3200"}
    return cosmos_error(status if status in FAULTS else 500, code, message, headers)


def _upstream(emu: Any, account: str) -> str | None:
    accounts = (emu.read_services().get("cosmos") or {}).get("accounts") or {}
    url = (accounts.get(account) or {}).get("endpoint")
    return str(url).rstrip("/") if url else None


def _error(status: int, message: str) -> web.Response:
    return cosmos_error(status, "ServiceUnavailable", message)


def _name_the_proxy(request: web.Request, body: bytes) -> bytes:
    """The account document with the proxy (as the client called it) as every location."""
    try:
        account = json.loads(body)
    except ValueError:
        return body
    for key in ("writableLocations", "readableLocations"):
        for location in account.get(key) or []:
            location["databaseAccountEndpoint"] = f"https://{request.host}/"
    return json.dumps(account).encode()


async def _batch_with_partition_keys(request: web.Request) -> bytes | None:
    """A transactional batch names its partition key once, in a header (as every SDK sends
    it); the server reads one per operation (the bulk shape): copy it into each. None for
    any other request (sent on unchanged)."""
    if request.headers.get("x-ms-cosmos-is-batch-request", "").lower() != "true":
        return None
    key = request.headers.get("x-ms-documentdb-partitionkey")
    body = await request.read()
    if key is None:
        return body
    try:
        operations = json.loads(body)
    except ValueError:
        return body
    if not isinstance(operations, list):
        return body
    for operation in operations:
        if isinstance(operation, dict):
            operation.setdefault("partitionKey", key)
    return json.dumps(operations).encode()


def cosmos_proxy_app(emu: Any, account: str) -> web.Application:
    secret: dict[str, str] = {}

    async def forward(request: web.Request) -> web.StreamResponse:
        denial = cosmos_access.check(
            emu, account, request.method, request.raw_path, request.host, request.headers
        )
        if denial is not None:
            extra = {"x-ms-substatus": str(denial.substatus)} if denial.substatus else None
            return cosmos_error(denial.status, denial.code, denial.message, extra, plain=True)
        resource = resource_of(request.raw_path)
        if resource.type in cosmos_scripts.KINDS:
            return await cosmos_scripts.handle(emu, account, request, resource)
        account_read = request.method == "GET" and request.path == "/"
        rewrite = _name_the_proxy if account_read else None
        if not secret:
            secret[COSMOS_HEADER] = cosmos_secret(emu.directory)
        upstream_headers = dict(secret)
        if "x-ms-documentdb-partitionkeyrangeid" in request.headers:
            # A query scoped to one partition key range (a feed range) needs no partition
            # key in Cosmos DB; the server asks for one unless told the query may span.
            upstream_headers["x-ms-documentdb-query-enablecrosspartition"] = "True"
        answer = await upstream_of(emu).forward(
            request,
            _upstream(emu, account),
            _error,
            rewrite,
            upstream_headers=upstream_headers,
            body=await _batch_with_partition_keys(request),
        )
        gone = request.method == "DELETE" and answer.status == 204
        if gone and resource.type in ("dbs", "colls") and not resource.is_feed:
            # The server forgot the container (or database): so do its scripts.
            names = resource.segments
            cosmos_scripts.forget(emu, account, names[1], names[3] if len(names) > 3 else None)
        return answer

    return proxy_app(emu, SERVICE, cosmos_fault_response, forward)


async def open_cosmos_proxies(emu: Any) -> None:
    """One proxy per Cosmos DB account of ``services.json``, on the port the store remembers
    when it is free; stored accounts are re-pointed when a port moved."""
    for account in sorted(_accounts(emu)):
        await open_cosmos_proxy(emu, account)
    for resource in emu.resources_of_type(ACCOUNT_TYPE):
        url = emu.cosmos_urls.get(resource["name"])
        if url:
            emu.set_property(resource, "documentEndpoint", f"{url}/")


async def open_cosmos_proxy(emu: Any, account: str) -> str | None:
    """The URL of the account's proxy, opened on first use; None when ``services.json`` has
    no Cosmos DB server for the account."""
    async with emu.proxy_lock:  # two ARM requests for one account open one listener
        if account not in emu.cosmos_urls:
            if account not in _accounts(emu):
                return None
            app = cosmos_proxy_app(emu, account)
            emu.cosmos_urls[account] = await emu.listen_remembered(STATE_SECTION, account, app)
            emu.write_emulator_json()
    return str(emu.cosmos_urls[account])


def _accounts(emu: Any) -> dict[str, Any]:
    return dict((emu.read_services().get("cosmos") or {}).get("accounts") or {})
