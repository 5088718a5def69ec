"""Entra ID: OpenID metadata, JWKS and the client-credentials token endpoint."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.context import EMU, Emulator
from atg_dataplane_sandbox.emulator.common.errors import json_response
from atg_dataplane_sandbox.emulator.common.tokens import audience_for_scope

routes = web.RouteTableDef()


def _emu(request: web.Request) -> Emulator:
    return request.app[EMU]


def _aad_error(status: int, error: str, code: int, description: str) -> web.Response:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    message = (
        f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
        f"Correlation ID: {correlation}\r\nTimestamp: {stamp}"
    )
    return json_response(
        {
            "error": error,
            "error_description": message,
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(code),
        },
        status=status,
    )


@routes.get("/{tenant}/v2.0/.well-known/openid-configuration")
@routes.get("/{tenant}/.well-known/openid-configuration")
async def openid_configuration(request: web.Request) -> web.Response:
    tenant = request.match_info["tenant"]
    base = _emu(request).urls["entra"]
    tenant_id = _tenant_id(request, tenant)
    if tenant_id is None:
        return _aad_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to "
            "make sure you have the correct tenant ID and are signing into the "
            "correct cloud.",
        )
    return json_response(
        {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "tenant_region_scope": None,
            "cloud_instance_name": "sandbox",
        }
    )


@routes.get("/common/discovery/instance")
async def instance_discovery(request: web.Request) -> web.Response:
    host = request.host
    return json_response(
        {
            "tenant_discovery_endpoint": f"{_emu(request).urls['entra']}/common/v2.0/.well-known/"
            "openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
    )


@routes.get("/{tenant}/discovery/v2.0/keys")
@routes.get("/{tenant}/discovery/keys")
async def jwks(request: web.Request) -> web.Response:
    return json_response(_emu(request).issuer.jwks())


@routes.post("/{tenant}/oauth2/v2.0/token")
@routes.post("/{tenant}/oauth2/token")
async def token(request: web.Request) -> web.Response:
    emu = _emu(request)
    tenant = request.match_info["tenant"]
    form = await request.post()
    tenant_id = _tenant_id(request, tenant)
    if tenant_id is None:
        return _aad_error(
            400,
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. Check to "
            "make sure you have the correct tenant ID and are signing into the "
            "correct cloud.",
        )
    if form.get("grant_type") != "client_credentials":
        return _aad_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported "
            "grant type. The sandbox supports client_credentials only.",
        )
    client_id = str(form.get("client_id", ""))
    secret = form.get("client_secret")
    if request.headers.get("Authorization", "").startswith("Basic "):
        import base64

        raw = base64.b64decode(request.headers["Authorization"][6:]).decode()
        client_id, _, secret = raw.partition(":")
    principal = emu.topology.principal_by_client_id(client_id)
    if principal is None or principal.tenant_id != tenant_id:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier "
            f"'{client_id}' was not found in the directory '{tenant_id}'. This can "
            "happen if the application has not been installed by the administrator "
            "of the tenant or consented to by any user in the tenant. You may have "
            "sent your authentication request to the wrong tenant.",
        )
    if secret is None:
        return _aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the "
            "following parameter: 'client_assertion' or 'client_secret'.",
        )
    if secret != emu.topology.client_secret(principal):
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure "
            "the secret being sent in the request is the client secret value, not "
            f"the client secret ID, for a secret added to app '{client_id}'.",
        )
    if principal.secret_expires_on < time.time():
        return _aad_error(
            401,
            "invalid_client",
            7000222,
            "The provided client secret keys for "
            f"app '{client_id}' are expired. Visit the Azure portal to create new "
            "keys for your app: https://aka.ms/NewClientSecret, or consider using "
            "certificate credentials for added security: https://aka.ms/certCreds.",
        )
    scopes = str(form.get("scope", "")).split()
    if not scopes and form.get("resource"):  # the v1 endpoint names a resource, not a scope
        scopes = [str(form["resource"]).rstrip("/") + "/.default"]
    resource = next((s for s in scopes if s.endswith("/.default")), None)
    if resource is None:
        return _aad_error(
            400,
            "invalid_scope",
            1002012,
            "The provided value for scope "
            f"{form.get('scope', '')} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    access_token, lifetime = emu.issuer.issue(
        tenant_id, principal.object_id, principal.client_id, audience_for_scope(resource)
    )
    return json_response(
        {
            "token_type": "Bearer",
            "expires_in": lifetime - 1,
            "ext_expires_in": lifetime - 1,
            "access_token": access_token,
        }
    )


def _tenant_id(request: web.Request, tenant: str) -> str | None:
    found = _emu(request).topology.tenant_by_id(tenant.lower())
    return found.tenant_id if found else None
