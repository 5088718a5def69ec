"""Microsoft.ApiManagement/service and its nested resources, declared for the ARM resource
tree (``emulator/arm/tree.py``); shapes per the 2024-05-01 specification
(``specification/apimanagement/resource-manager``).

Declared: named values, backends, API version sets, APIs with their operations and
policies, products with their API links and policies, the global policy, policy
fragments and subscriptions. Only what the service does beyond the tree's rules is code
here: a named value is validated as the service validates it, and its ``value`` is
hidden while it is ``secret`` (read through ``listValue``); a Key Vault-backed one keeps
its reference and reports its status; a subscription's keys are made by the service and
read through ``listSecrets``; a policy that names a ``{{named value}}`` the service does not
have is refused (400 ``ValidationError``) as APIM refuses it; a product's API link shows
the API.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from atg_dataplane_sandbox.emulator.common.arm import ArmContext
from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.common.providers import ChildType, Provider, declare, register

CHILDREN = "apim_children"
"""Store section of every declared APIM type (lower-case id -> item)."""

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
    prefix = service["id"].lower() + "/namedvalues/"
    for key, other in ctx.section(CHILDREN).items():
        same = str(other["properties"].get("displayName", "")).lower() == display.lower()
        if key.startswith(prefix) and same and (found is None or other["id"] != found["id"]):
            # display names are unique in a service: policies name values by them
            raise AzureError(
                400,
                "ValidationError",
                f"A named value with the display name '{display}' already exists "
                f"('{other['name']}').",
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
        section=CHILDREN,
    )
)


def _service_id(item_id: str) -> str:
    """The service's id from the id of anything below it."""
    marker = "/providers/microsoft.apimanagement/service/"
    at = item_id.lower().index(marker) + len(marker)
    end = item_id.find("/", at)
    return item_id if end < 0 else item_id[:end]


_REFERENCE = re.compile(r"\{\{([^{}]+)\}\}")


def _policy(
    ctx: ArmContext, parent: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    value = str(props.get("value") or "")
    if not value.strip().startswith("<"):
        raise AzureError(400, "ValidationError", "The policy must be an XML document.")
    prefix = _service_id(parent["id"]).lower() + "/namedvalues/"
    known = set()
    for key, item in ctx.section(CHILDREN).items():
        if key.startswith(prefix) and "/" not in key[len(prefix) :]:
            known |= {item["name"].lower(), str(item["properties"].get("displayName", "")).lower()}
    named = sorted({name.strip() for name in _REFERENCE.findall(value)}, key=str.lower)
    missing = [name for name in named if name.lower() not in known]
    if missing:
        raise AzureError(
            400,
            "ValidationError",
            f"One or more Properties ['{', '.join(missing)}'] specified are missing.",
        )
    return {"format": props.get("format") or "xml", "value": value}


def _subscription(
    ctx: ArmContext, parent: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    if not props.get("displayName") or not props.get("scope"):
        raise AzureError(400, "ValidationError", "displayName and scope are required.")
    old = (found or {}).get("properties", {})
    props = {**props, "state": props.get("state") or "active"}
    for key in ("primaryKey", "secondaryKey"):  # given, kept, or made by the service
        props[key] = props.get(key) or old.get(key) or secrets.token_hex(16)
    return props


def _link(collection: str) -> Any:
    """A link (PUT without a body, or with a body that says nothing): it shows the entity
    of ``collection`` (``apis``, ``groups``) that it links, which must exist."""

    def shape(
        ctx: ArmContext, owner: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
    ) -> dict[str, Any]:
        linked = f"{_service_id(owner['id'])}/{collection}/{ctx.request.path.rsplit('/', 1)[-1]}"
        entity = ctx.section(CHILDREN).get(linked.lower())
        if entity is None:
            raise AzureError(404, "ResourceNotFound", f"'{linked}' was not found.")
        return dict(entity["properties"])

    return shape


def _required(*fields: str) -> Any:
    def shape(
        ctx: ArmContext, parent: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
    ) -> dict[str, Any]:
        absent = [f for f in fields if not props.get(f)]
        if absent:
            raise AzureError(400, "ValidationError", f"{', '.join(absent)} required.")
        return props

    return shape


def _declare(name: str, parent: str = SERVICE_TYPE, **kwargs: Any) -> ChildType:
    return declare(
        ChildType(
            parent=parent,
            name=name,
            api_versions=API_VERSIONS,
            etag=True,
            section=CHILDREN,
            **kwargs,
        )
    )


API_TYPE = f"{SERVICE_TYPE}/apis"
PRODUCT_TYPE = f"{SERVICE_TYPE}/products"
BACKENDS = _declare("backends", shape=_required("url", "protocol"))
VERSION_SETS = _declare("apiVersionSets", shape=_required("displayName", "versioningScheme"))
APIS = _declare("apis", shape=_required("displayName", "path"), delete_lro="location")
OPERATIONS = _declare(
    "operations", parent=API_TYPE, shape=_required("displayName", "method", "urlTemplate")
)
POLICY = {"names": ("policy",), "shape": _policy}
SERVICE_POLICIES = _declare("policies", **POLICY)
API_POLICIES = _declare("policies", parent=API_TYPE, **POLICY)
OPERATION_POLICIES = _declare("policies", parent=f"{API_TYPE}/operations", **POLICY)
PRODUCTS = _declare("products", shape=_required("displayName"))
PRODUCT_POLICIES = _declare("policies", parent=PRODUCT_TYPE, **POLICY)
PRODUCT_APIS = _declare(
    "apis", parent=PRODUCT_TYPE, shape=_link("apis"), empty_body=True, head_status=204
)
PRODUCT_GROUPS = _declare(
    "groups", parent=PRODUCT_TYPE, shape=_link("groups"), empty_body=True, head_status=204
)
TAGS = _declare("tags", shape=_required("displayName"))
GROUPS = _declare("groups", shape=_required("displayName"))
LOGGERS = _declare("loggers", shape=_required("loggerType"))
DIAGNOSTICS = _declare("diagnostics", shape=_required("loggerId"))
API_DIAGNOSTICS = _declare("diagnostics", parent=API_TYPE, shape=_required("loggerId"))
GATEWAYS = _declare("gateways", shape=_required("locationData"))
GATEWAY_APIS = _declare(
    "apis", parent=f"{SERVICE_TYPE}/gateways", shape=_link("apis"), empty_body=True
)
IDENTITY_PROVIDERS = _declare(
    "identityProviders",
    names=("aad", "aadB2C", "facebook", "google", "microsoft", "twitter"),
    secrets=("clientSecret",),
    reveal="listSecrets",
    shape=_required("clientId", "clientSecret"),
)
AUTHORIZATION_SERVERS = _declare(
    "authorizationServers",
    secrets=("clientSecret", "resourceOwnerPassword"),
    reveal="listSecrets",
    shape=_required(
        "displayName",
        "clientRegistrationEndpoint",
        "authorizationEndpoint",
        "grantTypes",
        "clientId",
    ),
)
FRAGMENTS = _declare("policyFragments", shape=_required("value"))
SUBSCRIPTIONS = _declare(
    "subscriptions",
    secrets=("primaryKey", "secondaryKey"),
    reveal="listSecrets",
    shape=_subscription,
)
