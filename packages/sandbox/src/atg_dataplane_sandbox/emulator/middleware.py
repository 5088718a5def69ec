"""Middlewares shared by every listener: injected faults, then Azure-shaped errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from atg_dataplane_sandbox.emulator.context import EMU
from atg_dataplane_sandbox.emulator.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.faults import decide

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)


Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
FaultResponder = Callable[[int, float], web.StreamResponse]
"""Builds the answer of an injected status fault: ``(status, retry_after) -> response``."""


def fault_middleware(service: str, respond: FaultResponder | None = None) -> Middleware:
    """Injects the faults of ``service``; ``respond`` shapes injected errors (default: the
    ARM/Key Vault JSON shape, OAuth-shaped for Entra)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sandbox/"):
            return await handler(request)
        emu = request.app[EMU]
        fault = decide(emu.faults, service, emu.rng)
        if fault.kind != "none":
            emu.count_fault(service, "drop" if fault.kind == "drop" else str(fault.status))
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.kind == "drop":
            # Let the client finish sending (then it sees the drop while waiting for the
            # answer, as after a server crash); drain in chunks, never hold a large body.
            while await request.content.readany():
                pass
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # the connection is gone; nothing to answer
        if fault.kind == "status":
            if respond is not None:
                return respond(fault.status, fault.retry_after)
            return _fault_response(service, fault.status, fault.retry_after)
        return await handler(request)

    return middleware


def _fault_response(service: str, status: int, retry_after: float) -> web.Response:
    retry = f"{retry_after:g}"
    if status == 429:
        code, message = (
            "Throttled" if service == "keyvault" else "TooManyRequests",
            "Rate limit is exceeded. Try again in a moment.",
        )
    elif status == 503:
        code, message = "ServiceUnavailable", "The service is temporarily unavailable."
    else:
        code, message = "InternalServerError", "An internal error occurred (injected fault)."
    headers = {"Retry-After": retry} if status in (429, 503) else {}
    if service == "entra":  # OAuth-shaped, as Entra ID answers
        error = "too_many_requests" if status == 429 else "temporarily_unavailable"
        return json_response(
            {
                "error": error,
                "error_description": "AADSTS90033: A transient error has occurred. Please try "
                "again. (injected fault)",
                "error_codes": [90033],
            },
            status,
            headers,
        )
    return json_response({"error": {"code": code, "message": message}}, status, headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AzureError as exc:
        return exc.response()
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("emulator error on %s %s", request.method, request.path)
        return json_response(
            {"error": {"code": "InternalServerError", "message": "Unexpected emulator error."}},
            status=500,
        )
