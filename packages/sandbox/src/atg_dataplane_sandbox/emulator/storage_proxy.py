"""Fault-injecting reverse proxies in front of Azurite's Blob, Queue and Table endpoints.

One HTTPS listener per Azurite service, in the emulator's process, so the fault spec
(service ``storage``), the admin endpoint and ``set_faults`` apply to storage requests as
to our own services. Every request is forwarded as it came (method, raw path and query,
headers incl. ``Authorization`` and ``x-ms-*``, the ``Host`` header too) to the Azurite URL
of ``services.json``; bodies stream both ways, nothing is buffered.

``Host`` is forwarded unchanged on purpose: Azurite accepts a cross-account copy only when
the copy source is on "the same Azurite instance", i.e. when the source URL's ``host:port``
equals the ``Host`` of the copy request. Copy sources built from ``primaryEndpoints`` name
the proxy, so the copy request must reach Azurite with the proxy's ``Host``; Azurite then
fetches the source through the proxy (it trusts the sandbox CA via ``NODE_EXTRA_CA_CERTS``).
Shared Key and SAS signatures cover the path, not the host.
"""

from __future__ import annotations

import logging
import ssl
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from atg_dataplane_sandbox.emulator.context import EMU
from atg_dataplane_sandbox.emulator.middleware import fault_middleware
from atg_dataplane_sandbox.emulator.storage_errors import storage_error, storage_fault_response

KINDS = ("blob", "queue", "table")
SERVICE = "storage"
STATE_SECTION = "storage_proxy"
"""Store section: the port of each proxy, re-used after a restart when free."""

KIND = web.AppKey("storage_kind", str)
PROXY = web.AppKey("storage_proxy", object)

HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Expect",
    )
)
CHUNK = 256 * 1024
log = logging.getLogger(__name__)


class StorageProxy:
    """The shared upstream session (keep-alive, trusts the sandbox CA) of the three proxies."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self._session: aiohttp.ClientSession | None = None

    def upstream(self, kind: str) -> str | None:
        url = (self.emu.read_services().get("azurite") or {}).get(kind)
        return str(url).rstrip("/") if url else None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=str(self.emu.certs.ca))
            self._session = aiohttp.ClientSession(
                # Node closes idle connections after 5 s: drop ours before that, so a request
                # never goes out on a connection Azurite is closing.
                connector=aiohttp.TCPConnector(ssl=context, limit=256, keepalive_timeout=3),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=600),
                # Send only what the client sent: an added Content-Type would break the
                # Shared Key signature, which covers it.
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request, kind: str) -> web.StreamResponse:
        base = self.upstream(kind)
        if base is None:
            return storage_error(kind, 503, "ServerBusy", f"No Azurite {kind} endpoint.")
        url = URL(base + request.raw_path, encoded=True)
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP
        )
        data = request.content if request.body_exists else None
        session = self.session()
        for attempt in range(2):
            try:
                upstream = await session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                    compress=False,
                )
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # A kept-alive connection closed under us: safe to resend without a body.
                if attempt == 0 and data is None:
                    continue
                log.warning("storage proxy: %s %s failed: %s", request.method, url.path, exc)
                return storage_error(kind, 502, "InternalError", "Azurite did not answer.")
            except aiohttp.ClientError as exc:
                log.warning("storage proxy: %s %s failed: %s", request.method, url.path, exc)
                return storage_error(kind, 502, "InternalError", "Azurite did not answer.")
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
            except (TimeoutError, aiohttp.ClientError) as exc:
                # Azurite broke off mid-body: so must we, or the client takes a short body.
                log.warning("storage proxy: %s %s broke off: %s", request.method, url.path, exc)
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write_eof()
            return response


async def _handle(request: web.Request) -> web.StreamResponse:
    proxy = request.app[PROXY]
    assert isinstance(proxy, StorageProxy)
    return await proxy.forward(request, request.app[KIND])


def storage_proxy_app(emu: Any, proxy: StorageProxy, kind: str) -> web.Application:
    respond = partial(storage_fault_response, kind)
    app = web.Application(middlewares=[fault_middleware(SERVICE, respond)])
    app[EMU] = emu
    app[KIND] = kind
    app[PROXY] = proxy
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app
