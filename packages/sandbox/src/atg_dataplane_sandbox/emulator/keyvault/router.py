"""Key Vault data-plane routing: which vault (by listener port), the challenge, auth,
per-vault write throttling, then the collection handlers."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.auth import VAULT_AUDIENCE, bearer_token
from atg_dataplane_sandbox.emulator.common.context import EMU
from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.common.tokens import TokenError
from atg_dataplane_sandbox.emulator.keyvault import certificates, keys, lifecycle, secrets
from atg_dataplane_sandbox.emulator.keyvault.vault import VaultContext, path_not_found

WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})


async def dispatch(request: web.Request) -> web.StreamResponse:
    emu = request.app[EMU]
    port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
    name = emu.vault_by_port.get(port)
    data = emu.store.section("vaults").get(name or "") or {}
    resource = emu.store.section("resources").get(str(data.get("resource_id", "")).lower())
    if name is None or resource is None:
        raise AzureError(
            404, "VaultNotFound", "The vault behind this address does not exist (it was deleted)."
        )
    tenant_id = resource["properties"]["tenantId"]
    challenge = {
        "WWW-Authenticate": f'Bearer authorization="{emu.urls["entra"]}/{tenant_id}", '
        f'resource="{VAULT_AUDIENCE}"'
    }
    token = bearer_token(request)
    if token is None:
        await request.read()
        raise AzureError(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
            headers=challenge,
        )
    try:
        claims = emu.issuer.validate(token, VAULT_AUDIENCE)
    except TokenError as exc:
        code = {"expired": "AKV10013", "audience": "AKV10022"}.get(exc.kind, "AKV10021")
        raise AzureError(401, "Unauthorized", f"{code}: {exc}", headers=challenge) from None
    if claims.tenant_id.lower() != tenant_id.lower():
        raise AzureError(
            401,
            "Unauthorized",
            (
                f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant_id}/, "
                f"found {claims.issuer}."
            ),
            headers=challenge,
        )
    if request.method in WRITE_METHODS:
        _throttle(emu, name, data)
    body: Any = None
    if request.method in ("PUT", "POST", "PATCH") and request.can_read_body:
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise AzureError(
                    400, "BadParameter", "The request body is not valid JSON."
                ) from None
    vc = VaultContext(
        request=request,
        emu=emu,
        name=name,
        data=data,
        resource=resource,
        claims=claims,
        url=emu.vault_urls[name],
        body=body,
    )
    return await _route(vc, [s for s in request.path.split("/") if s])


def _throttle(emu: Any, name: str, data: dict[str, Any]) -> None:
    rate = emu.faults.for_service("keyvault").throttle
    if not rate:
        return
    buckets = emu.kv_buckets
    level, last = buckets.get(name, (rate, time.monotonic()))
    stamp = time.monotonic()
    level = min(rate, level + (stamp - last) * rate)
    if level < 1:
        buckets[name] = (level, stamp)
        emu.count_fault("keyvault", "throttled")
        retry = emu.faults.for_service("keyvault").retry_after
        raise AzureError(
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: A1",
            headers={"Retry-After": f"{retry:g}"},
        )
    buckets[name] = (level - 1, stamp)


async def _route(vc: VaultContext, seg: list[str]) -> web.StreamResponse:
    if not seg:
        raise path_not_found(vc)
    head = seg[0].lower()
    method = vc.request.method
    if head == "secrets":
        return await _secrets(vc, seg[1:], method)
    if head == "deletedsecrets":
        return await _deleted(vc, secrets.COLLECTION, seg[1:], method)
    if head == "keys":
        return await keys.route(vc, seg[1:], method)
    if head == "deletedkeys":
        return await _deleted(vc, keys.COLLECTION, seg[1:], method)
    if head == "certificates":
        return await certificates.route(vc, seg[1:], method)
    if head == "deletedcertificates":
        return await _deleted(vc, certificates.COLLECTION, seg[1:], method)
    raise path_not_found(vc)


async def _secrets(vc: VaultContext, rest: list[str], method: str) -> web.StreamResponse:
    if not rest:
        if method == "GET":
            return await secrets.list_secrets(vc)
        raise path_not_found(vc)
    name = rest[0]
    if len(rest) == 1:
        if name.lower() == "restore" and method == "POST":
            return await lifecycle.restore(vc, secrets.COLLECTION)
        if method == "PUT":
            return await secrets.set_secret(vc, name)
        if method == "GET":
            return await secrets.get_secret(vc, name, "")
        if method == "PATCH":
            return await secrets.update_secret(vc, name, "")
        if method == "DELETE":
            return await secrets.delete_secret(vc, name)
    if len(rest) == 2:
        sub = rest[1]
        if sub.lower() == "versions" and method == "GET":
            return await lifecycle.list_versions(vc, secrets.COLLECTION, name)
        if sub.lower() == "backup" and method == "POST":
            return await lifecycle.backup(vc, secrets.COLLECTION, name)
        if method == "GET":
            return await secrets.get_secret(vc, name, sub)
        if method == "PATCH":
            return await secrets.update_secret(vc, name, sub)
    raise path_not_found(vc)


async def _deleted(
    vc: VaultContext, collection: lifecycle.Collection, rest: list[str], method: str
) -> web.StreamResponse:
    if not rest and method == "GET":
        return await lifecycle.list_deleted(vc, collection)
    if len(rest) == 1 and method == "GET":
        return await lifecycle.get_deleted(vc, collection, rest[0])
    if len(rest) == 1 and method == "DELETE":
        return await lifecycle.purge(vc, collection, rest[0])
    if len(rest) == 2 and rest[1].lower() == "recover" and method == "POST":
        return await lifecycle.recover(vc, collection, rest[0])
    raise path_not_found(vc)
