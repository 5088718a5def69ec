"""The aiohttp applications behind each listener (Entra ID, ARM, Key Vault)."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator import entra
from atg_dataplane_sandbox.emulator.context import ADMIN_HEADER, EMU, Emulator
from atg_dataplane_sandbox.emulator.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.faults import FaultSpecError
from atg_dataplane_sandbox.emulator.middleware import (
    FaultResponder,
    MalformedResponder,
    error_middleware,
    fault_middleware,
    malformed_json,
)


def _app(
    emu: Emulator,
    service: str,
    respond: FaultResponder | None = None,
    malformed: MalformedResponder | None = None,
) -> web.Application:
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


def entra_app(emu: Emulator) -> web.Application:
    app = _app(emu, "entra")
    app.add_routes(entra.routes)
    return app


def arm_app(emu: Emulator) -> web.Application:
    from atg_dataplane_sandbox.emulator.arm import providers  # noqa: F401  (registers them)
    from atg_dataplane_sandbox.emulator.arm.authorization import seed_role_assignments
    from atg_dataplane_sandbox.emulator.arm.router import dispatch

    seed_role_assignments(emu.store.data, emu.topology)
    app = _app(emu, "arm")
    app.router.add_route("GET", "/_sandbox/faults", _faults)
    app.router.add_route("POST", "/_sandbox/faults", _faults)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def keyvault_app(emu: Emulator) -> web.Application:
    from atg_dataplane_sandbox.emulator.keyvault.router import dispatch

    app = _app(emu, "keyvault")
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def acr_app(emu: Emulator) -> web.Application:
    from atg_dataplane_sandbox.emulator.acr.router import dispatch

    app = _app(emu, "acr", malformed=_acr_malformed)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _acr_malformed(request: web.Request) -> web.Response | None:
    # Manifests and layers are content (their digests are their names): never garbled.
    if "/manifests/" in request.path or "/blobs/" in request.path:
        return None
    return malformed_json(request)


async def _faults(request: web.Request) -> web.Response:
    """Admin endpoint: GET shows the fault spec, POST ``{"spec": "..."}`` replaces it.
    Authenticated by the local admin key (``secrets/emulator-admin``), not by Entra ID."""
    emu: Emulator = request.app[EMU]
    if not hmac.compare_digest(request.headers.get(ADMIN_HEADER, ""), emu.admin_key):
        raise AzureError(401, "Unauthorized", f"The {ADMIN_HEADER} header is missing or wrong.")
    if request.method == "POST":
        body = await request.json()
        try:
            emu.set_faults(str(body.get("spec", "")))
        except FaultSpecError as exc:
            raise AzureError(400, "BadFaultSpec", str(exc)) from None
    return json_response({"spec": emu.faults.text, "injected": emu.fault_counts})
