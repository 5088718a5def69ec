"""Microsoft.ApiManagement/service and its nested resources, declared for the ARM resource
tree (``emulator/arm/tree.py``); shapes per the 2024-05-01 specification
(``specification/apimanagement/resource-manager``).

Only what a service does beyond the tree's rules is code here: a named value is validated
as the service validates it, and its ``value`` is hidden while it is ``secret`` (read
through ``listValue``); a Key Vault-backed one keeps its reference and reports its status.
"""

from __future__ import annotations

import re
from typing import Any

from atg_dataplane_sandbox.emulator.common.arm import ArmContext
from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.common.providers import ChildType, Provider, declare, register

SERVICE_TYPE = "Microsoft.ApiManagement/service"
API_VERSIONS = (
    "2021-08-01",
    "2022-08-01",
    "2023-03-01-preview",
    "2023-05-01-preview",
    "2023-09-01-preview",
    "2024-05-01",
    "2024-06-01-preview",
)
_DISPLAY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")


class ApiManagementService(Provider):
    namespace = "Microsoft.ApiManagement"
    resource_type = "service"
    lro_put = True

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        props = resource["properties"]
        for field in ("publisherEmail", "publisherName"):
            if not props.get(field):
                raise AzureError(400, "ValidationError", f"'{field}' is required.")
        if "sku" not in resource:
            raise AzureError(400, "ValidationError", "'sku' is required.")
        name = resource["name"].lower()
        # Addresses only: the gateway itself is not emulated.
        props.setdefault("gatewayUrl", f"https://{name}.azure-api.net")
        props.setdefault("managementApiUrl", f"https://{name}.management.azure-api.net")
        props["provisioningState"] = "Succeeded"
        return resource


def _named_value(
    ctx: ArmContext, service: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    display = str(props.get("displayName") or "")
    if not _DISPLAY_NAME.match(display):
        raise AzureError(
            400,
            "ValidationError",
            "displayName is required: 1 to 256 letters, digits, '.', '-' or '_'.",
        )
    vault = props.get("keyVault")
    if vault:
        if not vault.get("secretIdentifier"):
            raise AzureError(400, "ValidationError", "keyVault.secretIdentifier is required.")
        props = {**props, "secret": True}
        props.pop("value", None)
        props["keyVault"] = {**vault, "lastStatus": {"code": "Success"}}
    elif props.get("value") is None:
        raise AzureError(400, "ValidationError", "Either value or keyVault is required.")
    props.setdefault("secret", False)
    props.setdefault("tags", [])
    props["provisioningState"] = "Succeeded"
    return props


register(ApiManagementService())
NAMED_VALUES = declare(
    ChildType(
        parent=SERVICE_TYPE,
        name="namedValues",
        api_versions=API_VERSIONS,
        secrets=("value",),
        hide_secrets=lambda props: bool(props.get("secret")),
        reveal="listValue",
        etag=True,
        shape=_named_value,
    )
)
