"""Forwarding to a real emulator (Azurite, the Cosmos DB server) from a fault-injecting
listener of ours: the part storage and Cosmos DB proxies share.

Every request is forwarded as it came (method, raw path and query, every header but the
hop-by-hop ones, ``Host`` and ``Authorization`` too; the caller may set upstream credentials,
which replace any header of that name the client sent) over one keep-alive ``aiohttp`` session
that trusts the sandbox CA; bodies stream both ways, nothing is buffered unless the caller
asks to rewrite the answer. Shared Key, SAS and Cosmos DB master-key signatures cover the
path, never the host, so they hold through the proxy.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from atg_dataplane_sandbox.emulator.common.middleware import lose_answer

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

ErrorResponder = Callable[[int, str], web.Response]
"""Shapes the proxy's own errors as the upstream service would: ``(status, message)``."""
Rewrite = Callable[[web.Request, bytes], bytes]
"""Rewrites a whole (buffered) answer body; the request tells where the client called."""


class UpstreamProxy:
    """One shared upstream session (keep-alive, trusts the sandbox CA) for any number of
    listeners; :meth:`forward` sends one request on."""

    def __init__(self, ca: Path) -> None:
        self.ca = ca
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=str(self.ca))
            self._session = aiohttp.ClientSession(
                # Node closes idle connections after 5 s: drop ours before that, so a request
                # never goes out on a connection the upstream is closing.
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

    async def forward(
        self,
        request: web.Request,
        base: str | None,
        error: ErrorResponder,
        rewrite: Rewrite | None = None,
        upstream_headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> web.StreamResponse:
        """Send ``request`` to ``base`` (no trailing slash) and stream the answer back;
        ``rewrite`` (if given) gets the whole answer body and returns what the client gets;
        ``upstream_headers`` (the upstream's credentials) replace the client's of that name;
        ``body`` (if given) is sent in place of the client's."""
        if base is None:
            return error(503, "The emulator behind this address is not running.")
        url = URL(base + request.raw_path, encoded=True)
        skip = HOP_BY_HOP.union(name.lower() for name in upstream_headers or {})
        if body is not None:
            skip = skip.union({"content-length"})
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in skip)
        headers.update(upstream_headers or {})
        data: Any = body if body is not None else request.content if request.body_exists else None
        for attempt in range(2):
            try:
                upstream = await self.session().request(
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
                if attempt == 0 and (data is None or isinstance(data, bytes)):
                    continue
                log.warning("proxy: %s %s failed: %s", request.method, url.path, exc)
                return error(502, "The emulator behind this address did not answer.")
            except aiohttp.ClientError as exc:
                log.warning("proxy: %s %s failed: %s", request.method, url.path, exc)
                return error(502, "The emulator behind this address did not answer.")
        async with upstream:
            if lose_answer(request):
                await upstream.read()  # applied upstream; the client never hears of it
                raise asyncio.CancelledError
            if rewrite is not None:
                return await _rewritten(request, upstream, rewrite)
            return await _streamed(request, upstream, url)


def _headers(upstream: aiohttp.ClientResponse, *drop: str) -> CIMultiDict[str]:
    skip = HOP_BY_HOP.union(drop)
    return CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in skip)


async def _rewritten(
    request: web.Request, upstream: aiohttp.ClientResponse, rewrite: Rewrite
) -> web.Response:
    body = rewrite(request, await upstream.read())
    return web.Response(
        status=upstream.status,
        reason=upstream.reason,
        body=body,
        headers=_headers(upstream, "content-length"),
    )


async def _streamed(
    request: web.Request, upstream: aiohttp.ClientResponse, url: URL
) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    response.headers.extend(_headers(upstream))
    await response.prepare(request)
    try:
        async for chunk in upstream.content.iter_chunked(CHUNK):
            await response.write(chunk)
    except (TimeoutError, aiohttp.ClientError) as exc:
        # The upstream broke off mid-body: so must we, or the client takes a short body.
        log.warning("proxy: %s %s broke off: %s", request.method, url.path, exc)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


def upstream_of(emu: Any) -> UpstreamProxy:
    """The emulator's one upstream session of the fault-injecting proxies."""
    return emu.part("upstream_proxy", lambda e: UpstreamProxy(e.certs.ca))
