"""The sandbox's import/export service rides out busy and broken answers from the staging
storage, as Azure's does: a busy answer is tried again, and a write whose answer was lost
is not refused as "already exists" on the next try. A small HTTPS server here plays the
storage account, answering each request as the test scripts it."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trustme
from aiohttp import web
from atg_dataplane_sandbox.emulator.common.arm import AzureError
from atg_dataplane_sandbox.emulator.sql import arm

BODY = {"storageKeyType": "SharedAccessKey", "storageKey": "?sv=x&sig=y"}


def _serve(
    tmp_path: Path, script: list[str], call: Any, stored: bytes | None = None
) -> list[str]:
    """Answer the requests with ``script`` in turn (``busy``: 503; ``lost``: applied, the
    connection closed unanswered; ``exists``: 409; ``ok``: 201, or the blob to a GET) and
    ``ok`` after it; the blob starts as ``stored``. Run ``call(ctx, uri)``; return the
    requests the server saw."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    seen: list[str] = []
    blob = [stored]

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.method)
        data = await request.read()
        step = script[len(seen) - 1] if len(seen) <= len(script) else "ok"
        if step == "busy":
            return web.Response(status=503, headers={"Retry-After": "0"})
        if step in ("lost", "ok") and request.method == "PUT":
            blob[0] = data
        if step == "lost":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=201)
        if step == "exists":
            return web.Response(status=409)
        if request.method == "GET":
            return web.Response(body=blob[0] or b"")
        return web.Response(status=201)

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        ctx = SimpleNamespace(emu=SimpleNamespace(certs=SimpleNamespace(ca=ca_file)))
        try:
            await call(ctx, f"https://127.0.0.1:{port}/staging/db.bacpac")
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return seen


def _put(uri_holder: list[Any]) -> Any:
    async def call(ctx: Any, uri: str) -> None:
        uri_holder.append(
            await arm._put_blob(ctx, uri, {**BODY, "storageUri": uri}, b"package"))

    return call


def test_a_busy_storage_is_tried_again(tmp_path: Path) -> None:
    assert _serve(tmp_path, ["busy", "busy", "ok"], _put([])) == ["PUT"] * 3


def test_a_write_whose_answer_was_lost_is_not_refused_as_existing(tmp_path: Path) -> None:
    # The first PUT wrote the blob and its answer never came: the next meets the blob,
    # which holds this very package.
    seen = _serve(tmp_path, ["lost", "exists"], _put([]))
    assert seen == ["PUT", "PUT", "GET"]


def test_a_blob_that_was_there_before_is_still_refused(tmp_path: Path) -> None:
    with pytest.raises(AzureError, match="already exists"):
        _serve(tmp_path, ["exists"], _put([]), stored=b"another package")


def test_storage_busy_on_every_try_fails_the_operation(tmp_path: Path) -> None:
    with pytest.raises(AzureError, match=r"refused \(503\)"):
        _serve(tmp_path, ["busy"] * arm.STORAGE_TRIES, _put([]))


def test_a_read_is_tried_again_too(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def call(ctx: Any, uri: str) -> None:
        got.append(await arm._get_blob(ctx, uri, {**BODY, "storageUri": uri}))

    assert _serve(tmp_path, ["busy", "lost", "ok"], call, stored=b"package") == ["GET"] * 3
    assert got == [b"package"]
