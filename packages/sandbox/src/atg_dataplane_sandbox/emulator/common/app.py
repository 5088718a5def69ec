"""The aiohttp application every listener of the emulator is built on: its errors shaped as
Azure's, the fault middleware of its service, the request ids Azure sends."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.context import EMU, Emulator
from atg_dataplane_sandbox.emulator.common.middleware import (
    FaultResponder,
    Handler,
    MalformedResponder,
    error_middleware,
    fault_middleware,
)


def service_app(
    emu: Emulator,
    service: str,
    respond: FaultResponder | None = None,
    malformed: MalformedResponder | None = None,
) -> web.Application:
    """An app of one of our own services (faults of ``service`` of the fault spec)."""
    middlewares: list[Any] = [error_middleware, fault_middleware(service, respond, malformed)]
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024 * 1024)
    app[EMU] = emu
    app.on_response_prepare.append(_request_ids)
    return app


async def _request_ids(request: web.Request, response: web.StreamResponse) -> None:
    # Azure answers every call with ids that support tickets (and our logs) quote.
    request_id = str(uuid.uuid4())
    response.headers.setdefault("x-ms-request-id", request_id)
    response.headers.setdefault(
        "x-ms-correlation-request-id",
        request.headers.get("x-ms-correlation-request-id", request_id),
    )


def proxy_app(
    emu: Any,
    service: str,
    respond: FaultResponder,
    forward: Handler,
    malformed: MalformedResponder | None = None,
) -> web.Application:
    """A listener's app: every request through ``fault_middleware(service, respond,
    malformed)``, then to ``forward``."""
    # Bodies the proxy reads itself (a Cosmos DB batch it reshapes) may be as large as the
    # service takes: Cosmos DB requests go up to 2 MB, aiohttp's default stops at 1 MB.
    app = web.Application(
        middlewares=[fault_middleware(service, respond, malformed)],
        client_max_size=8 * 1024 * 1024,
    )
    app[EMU] = emu
    app.router.add_route("*", "/{tail:.*}", forward)
    return app
