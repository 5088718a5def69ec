"""Middlewares shared by every listener: injected faults, then Azure-shaped errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import NoReturn

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.context import EMU
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.faults import decide

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)


Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
FaultResponder = Callable[[int, float], web.StreamResponse]
"""Builds the answer of an injected status fault: ``(status, retry_after) -> response``."""
MalformedResponder = Callable[[web.Request], "web.Response | None"]
"""Builds a 200 answer whose body does not parse, or None for a request answered with
content (a blob, a file), which the ``malformed`` fault leaves alone."""

LOSE_ANSWER = web.RequestKey("atg_sandbox.lose_answer", bool)
"""Set on a request whose answer the ``lost`` fault drops after the request was applied: a
handler that streams its answer itself (the proxies) must check it and drop the connection
instead of answering."""


def fault_middleware(
    service: str,
    respond: FaultResponder | None = None,
    malformed: MalformedResponder | None = None,
) -> Middleware:
    """Injects the faults of ``service``; ``respond`` shapes injected errors (default: the
    ARM/Key Vault JSON shape, OAuth-shaped for Entra), ``malformed`` garbled answers
    (default: cut-off JSON)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sandbox/"):
            return await handler(request)
        emu = request.app[EMU]
        fault = decide(emu.faults, service, emu.rng)
        garbled = None
        if fault.kind == "malformed":
            garbled = (malformed or malformed_json)(request)
            if garbled is None:  # content, not a document: no fault
                fault = replace(fault, kind="none")
        if fault.kind != "none":
            emu.count_fault(service, str(fault.status) if fault.kind == "status" else fault.kind)
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.kind == "drop":
            # Let the client finish sending (then it sees the drop while waiting for the
            # answer, as after a server crash); drain in chunks, never hold a large body.
            await _drain(request)
            _hang_up(request)
        if fault.kind == "stall":
            await _drain(request)
            deadline = asyncio.get_running_loop().time() + fault.stall_for
            while asyncio.get_running_loop().time() < deadline:
                if request.transport is None or request.transport.is_closing():
                    break  # the client gave up: free the task
                await asyncio.sleep(0.2)
            _hang_up(request)
        if fault.kind == "status":
            if respond is not None:
                return respond(fault.status, fault.retry_after)
            return _fault_response(service, fault.status, fault.retry_after)
        if garbled is not None:
            await _drain(request)
            return garbled
        if fault.kind == "lost":
            request[LOSE_ANSWER] = True
            await handler(request)  # applied; its answer never leaves
            _hang_up(request)
        return await handler(request)

    return middleware


async def _drain(request: web.Request) -> None:
    while await request.content.readany():
        pass


def _hang_up(request: web.Request) -> NoReturn:
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # the connection is gone; nothing to answer


def lose_answer(request: web.Request) -> bool:
    """For handlers that stream their own answer: True when the ``lost`` fault wants the
    connection dropped now (after the request was applied) instead of an answer."""
    if not request.get(LOSE_ANSWER):
        return False
    if request.transport is not None:
        request.transport.abort()
    return True


def malformed_json(request: web.Request) -> web.Response | None:
    """A JSON answer cut off mid-document, as a broken gateway or proxy might send."""
    if request.method == "HEAD":
        return None
    return web.Response(
        status=200,
        body=b'{"value": [{"id": "https://',
        content_type="application/json",
        charset="utf-8",
    )


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
