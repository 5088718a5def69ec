"""Microsoft.ApiManagement/service and its nested resources, declared for the ARM resource
tree (``emulator/arm/tree.py``); shapes per the 2024-05-01 specification
(``specification/apimanagement/resource-manager``).

Declared: named values, backends, API version sets, APIs (with revisions, releases,
schemas, operations, tags and policies), products with their API, group and tag links and
policies, the global policy, policy fragments, subscriptions, tags, groups (the three
built-in ones included) and their users, users, certificates, loggers, diagnostics,
gateways, identity providers and authorization servers. Only what the service does beyond
the tree's rules is code here:

* a named value is validated as the service validates it, and its ``value`` is hidden
  while it is ``secret`` (read through ``listValue``); a Key Vault-backed one keeps its
  reference and reports its status;
* a subscription's keys are made by the service and read through ``listSecrets``;
* a policy that names a ``{{named value}}`` the service does not have is refused (400
  ``ValidationError``) as APIM refuses it;
* a link (a product's API, a group's user, an API's tag) shows the entity it links;
* an API ``orders;rev=2`` is a revision of ``orders``: created from it (``sourceApiId``)
  with a copy of what sits below it, numbered, not current until a release names it; a
  release makes its revision the current one (``isCurrent``; which revision the gateway
  serves is not emulated);
* an API created with ``format`` ``openapi+json`` (or ``swagger-json``) and a document
  in ``value`` gets an operation per path and method, as an import does; other formats
  (WSDL, YAML, links) are refused with a message that says the sandbox lacks them;
* an uploaded certificate (PFX in ``data`` with its ``password``) is parsed for its
  subject, thumbprint and expiry and never shown again; a Key Vault-backed one keeps its
  reference (the vault is not read: services of the sandbox are independent, so it shows
  no subject or thumbprint);
* a user's ``password`` is never shown.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

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
    of ``collection`` (``apis``, ``groups``, ``tags``, ``users``) that it links, which must
    exist."""

    def shape(
        ctx: ArmContext, owner: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
    ) -> dict[str, Any]:
        service = _service_id(owner["id"])
        linked = f"{service}/{collection}/{ctx.request.path.rsplit('/', 1)[-1]}"
        entity = ctx.section(CHILDREN).get(linked.lower())
        if entity is None and collection == "groups":
            entity = {g["id"].lower(): g for g in _builtin_groups(ctx, {"id": service})}.get(
                linked.lower()
            )
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


_REVISION_OF = ("displayName", "path", "protocols", "serviceUrl", "apiVersionSetId",
                "apiVersion", "subscriptionRequired", "type", "description")
"""What a revision takes from the API it is made from."""
_IMPORTS = ("openapi+json", "swagger-json")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _api(
    ctx: ArmContext, service: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    name = ctx.request.path.rsplit("/", 1)[-1]
    root, _, revision = name.partition(";rev=")
    apis = f"{service['id']}/apis/".lower()
    props = dict(props)
    props.pop("sourceApiId", None)
    old = (found or {}).get("properties", {})
    if revision:
        base = ctx.section(CHILDREN).get(apis + root.lower())
        if base is None or not revision.isdigit():
            raise AzureError(
                400, "ValidationError", f"'{name}': a revision needs an existing API '{root}'."
            )
        taken = {k: v for k, v in base["properties"].items() if k in _REVISION_OF}
        props = {**taken, **props, "apiRevision": revision}
        props["isCurrent"] = bool(old.get("isCurrent"))
        if found is None:
            _copy_below(ctx, base["id"], f"{service['id']}/apis/{name}")
    else:
        props.setdefault("apiRevision", old.get("apiRevision") or "1")
        props["isCurrent"] = old.get("isCurrent", True)
    document = props.pop("value", None)
    fmt = props.pop("format", None)
    if fmt is not None or document is not None:
        props = _import(ctx, f"{service['id']}/apis/{name}", fmt, document, props)
    return _required("displayName", "path")(ctx, service, found, props)


def _copy_below(ctx: ArmContext, source_id: str, revision_id: str) -> None:
    """A new revision starts as a copy of its API: operations, policies, schemas, tags
    (not releases: they are the API's)."""
    stored = ctx.section(CHILDREN)
    prefix = source_id.lower() + "/"
    for key, item in list(stored.items()):
        if key.startswith(prefix) and not key[len(prefix) :].startswith("releases/"):
            copied = copy.deepcopy(item)
            copied["id"] = revision_id + item["id"][len(source_id) :]
            stored[copied["id"].lower()] = copied


def _import(
    ctx: ArmContext, api_id: str, fmt: Any, document: Any, props: dict[str, Any]
) -> dict[str, Any]:
    """An OpenAPI (JSON) import: an operation per path and method, its display name the
    summary (or operationId), its template parameters the path's ``{names}``."""
    if str(fmt).lower() not in _IMPORTS:
        raise AzureError(
            400,
            "ValidationError",
            f"Import format '{fmt}' is not emulated by the sandbox: use one of "
            + ", ".join(_IMPORTS) + ".",
        )
    try:
        spec = json.loads(document) if isinstance(document, str) else dict(document or {})
    except (TypeError, ValueError) as exc:
        raise AzureError(400, "ValidationError", f"The document is not JSON: {exc}") from None
    if not isinstance(spec.get("paths"), dict):
        raise AzureError(400, "ValidationError", "The document has no 'paths'.")
    props.setdefault("displayName", (spec.get("info") or {}).get("title"))
    props.setdefault("description", (spec.get("info") or {}).get("description"))
    stored = ctx.section(CHILDREN)
    for path, methods in spec["paths"].items():
        for method, operation in (methods or {}).items():
            if method.lower() not in _METHODS:
                continue
            operation = operation or {}
            op_name = operation.get("operationId") or f"{method}-{path}".replace("/", "-")
            op_name = re.sub(r"[^A-Za-z0-9_]+", "-", op_name).strip("-").lower()
            op_id = f"{api_id}/operations/{op_name}"
            stored[op_id.lower()] = {
                "id": op_id,
                "name": op_name,
                "type": f"{API_TYPE}/operations",
                "etag": f'"{secrets.token_hex(16)}"',
                "properties": {
                    "displayName": operation.get("summary") or op_name,
                    "method": method.upper(),
                    "urlTemplate": path,
                    "description": operation.get("description") or "",
                    "templateParameters": [
                        {"name": param, "type": "string", "required": True}
                        for param in re.findall(r"\{([^{}]+)\}", path)
                    ],
                    "request": {"queryParameters": [], "headers": [], "representations": []},
                    "responses": [],
                },
            }
    ctx.touch()
    return {k: v for k, v in props.items() if v is not None}


def _release(
    ctx: ArmContext, api: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    """A release names a revision of its API (by id, full or relative to the service);
    that revision becomes the current one."""
    service = _service_id(api["id"])
    named = str(props.get("apiId") or "")
    full = service + named if named.lower().startswith("/apis/") else named
    revision = ctx.section(CHILDREN).get(full.lower())
    root = api["name"].partition(";rev=")[0].lower()
    if revision is None or revision["name"].partition(";rev=")[0].lower() != root:
        raise AzureError(
            400, "ValidationError", f"apiId must name a revision of the API '{api['name']}'."
        )
    prefix = f"{service}/apis/".lower()
    for key, other in ctx.section(CHILDREN).items():
        rest = key[len(prefix) :] if key.startswith(prefix) else "/"
        if "/" not in rest and rest.partition(";rev=")[0] == root:
            other["properties"]["isCurrent"] = other is revision
    now = datetime.now(UTC).isoformat()
    created = (found or {}).get("properties", {}).get("createdDateTime") or now
    return {
        "apiId": revision["id"],
        "notes": props.get("notes") or "",
        "createdDateTime": created,
        "updatedDateTime": now,
    }


def _certificate(
    ctx: ArmContext, service: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    vault = props.get("keyVault")
    if vault:
        if not vault.get("secretIdentifier"):
            raise AzureError(400, "ValidationError", "keyVault.secretIdentifier is required.")
        return {"keyVault": {**vault, "lastStatus": {"code": "Success"}}}
    data, password = props.get("data"), props.get("password")
    if not data:
        raise AzureError(400, "ValidationError", "Either data (a PFX) or keyVault is required.")
    try:
        pfx = pkcs12.load_pkcs12(
            base64.b64decode(str(data)), str(password or "").encode() or None
        )
    except ValueError:
        raise AzureError(
            400, "InvalidCertificate", "The PFX could not be read with the password given."
        ) from None
    if pfx.cert is None:
        raise AzureError(400, "InvalidCertificate", "The PFX holds no certificate.")
    cert = pfx.cert.certificate
    return {
        "data": data,
        "password": password,
        "subject": cert.subject.rfc4514_string(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),
        "expirationDate": cert.not_valid_after_utc.isoformat(),
    }


def _user(
    ctx: ArmContext, service: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    props = _required("email", "firstName", "lastName")(ctx, service, found, props)
    prefix = f"{service['id']}/users/".lower()
    for key, other in ctx.section(CHILDREN).items():
        same = str(other["properties"].get("email", "")).lower() == props["email"].lower()
        if key.startswith(prefix) and same and (found is None or other["id"] != found["id"]):
            raise AzureError(409, "Conflict", f"Email '{props['email']}' already exists.")
    old = (found or {}).get("properties", {})
    props = {k: v for k, v in props.items() if k not in ("confirmation", "appType")}
    props.setdefault("state", "active")
    props.setdefault("identities", [{"provider": "Basic", "id": props["email"]}])
    props["registrationDate"] = old.get("registrationDate") or datetime.now(
        UTC
    ).isoformat()
    return props


_BUILTIN_GROUPS = ("administrators", "developers", "guests")


def _builtin_groups(ctx: ArmContext, service: dict[str, Any]) -> list[dict[str, Any]]:
    """The groups every service has: ``system`` groups, never changed or deleted."""
    return [
        {
            "id": f"{service['id']}/groups/{name}",
            "name": name,
            "type": f"{SERVICE_TYPE}/groups",
            "properties": {
                "displayName": name.capitalize(),
                "description": f"{name.capitalize()} is a built-in group.",
                "builtIn": True,
                "type": "system",
            },
        }
        for name in _BUILTIN_GROUPS
    ]


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
def _unlink(ctx: ArmContext, api: dict[str, Any]) -> None:
    """An API that goes leaves no product or gateway linking it, as in Azure."""
    service = _service_id(api["id"]).lower()
    stored = ctx.section(CHILDREN)
    for key in list(stored):
        parts = key[len(service) :].split("/") if key.startswith(service + "/") else []
        # /products/{p}/apis/{api} or /gateways/{g}/apis/{api}
        linked = len(parts) == 5 and parts[1] in ("products", "gateways") and parts[3] == "apis"
        if linked and parts[4] == api["name"].lower():
            del stored[key]


APIS = _declare("apis", shape=_api, delete_lro="location", on_delete=_unlink)
RELEASES = _declare("releases", parent=API_TYPE, shape=_release)
SCHEMAS = _declare(
    "schemas",
    parent=API_TYPE,
    shape=_required("contentType", "document"),
    lro="async",
    lro_status=201,
)
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
TAG_LINKS = {"shape": _link("tags"), "empty_body": True}
API_TAGS = _declare("tags", parent=API_TYPE, **TAG_LINKS)
OPERATION_TAGS = _declare("tags", parent=f"{API_TYPE}/operations", **TAG_LINKS)
PRODUCT_TAGS = _declare("tags", parent=PRODUCT_TYPE, **TAG_LINKS)
GROUPS = _declare(
    "groups",
    shape=_required("displayName"),
    builtins=_builtin_groups,
    read_only=frozenset(_BUILTIN_GROUPS),
)
USERS = _declare("users", secrets=("password",), shape=_user)
GROUP_USERS = _declare(
    "users",
    parent=f"{SERVICE_TYPE}/groups",
    shape=_link("users"),
    empty_body=True,
    head_status=204,
)
CERTIFICATES = _declare("certificates", secrets=("data", "password"), shape=_certificate)
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
