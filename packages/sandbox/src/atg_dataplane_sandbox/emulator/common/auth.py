"""Bearer-token authentication for ARM and Key Vault requests."""

from __future__ import annotations

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.context import EMU
from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.common.tokens import Claims, TokenError, same_audience

ARM_AUDIENCE = "https://management.azure.com/"
ARM_AUDIENCES = (ARM_AUDIENCE, "https://management.core.windows.net/")  # ARM accepts both
VAULT_AUDIENCE = "https://vault.azure.net"

_ARM_CODES = {
    "missing": "AuthenticationFailed",
    "malformed": "InvalidAuthenticationToken",
    "signature": "InvalidAuthenticationToken",
    "expired": "ExpiredAuthenticationToken",
    "audience": "InvalidAuthenticationTokenAudience",
}


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate_arm(request: web.Request) -> Claims:
    emu = request.app[EMU]
    token = bearer_token(request)
    try:
        if token is None:
            raise TokenError(
                "missing", "Authentication failed. The 'Authorization' header is missing."
            )
        claims: Claims = emu.issuer.validate(token, None)
        if not any(same_audience(claims.audience, a) for a in ARM_AUDIENCES):
            raise TokenError(
                "audience", f"The access token audience '{claims.audience}' is invalid."
            )
        return claims
    except TokenError as exc:
        description = str(exc)
        raise AzureError(
            401,
            _ARM_CODES[exc.kind],
            description,
            headers={
                "WWW-Authenticate": f'Bearer authorization_uri="{emu.urls["entra"]}/", '
                f'error="invalid_token", error_description="{description}"',
            },
        ) from None


def arm_wrong_tenant(request: web.Request, claims: Claims, tenant_id: str) -> AzureError:
    emu = request.app[EMU]
    return AzureError(
        401,
        "InvalidAuthenticationTokenTenant",
        (
            f"The access token is from the wrong issuer '{claims.issuer}'. It must match the "
            f"tenant 'https://sts.windows.net/{tenant_id}/' associated with this subscription. "
            f"Please use the authority (URL) '{emu.urls['entra']}/{tenant_id}' to get the token. "
            "Note, if the subscription is transferred to another tenant there is no impact to the "
            "services, but information about new tenant could take time to propagate (up to an "
            "hour). If you just transferred your subscription and see this error message, please "
            "try back later."
        ),
        headers={
            "WWW-Authenticate": f'Bearer authorization_uri="{emu.urls["entra"]}/{tenant_id}", '
            'error="invalid_token", error_description="The access token '
            'is from the wrong issuer."'
        },
    )
