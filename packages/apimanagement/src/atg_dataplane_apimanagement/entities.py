"""The API Management entities this plugin carries, as a table: how each kind is listed
and written through azure-mgmt-apimanagement, which of its properties are secret (read
only through a ``list*`` action), and what it must be written after.

Item names are paths of entity ids: an API ``orders``, its revision ``orders;rev=2``, its
operation ``orders/list``, its policy ``orders`` (kind ``api_policy``), a product's API
link ``gold/orders``. Kinds are listed in dependency order (named values before the
fragments and policies that name them, version sets before APIs, an API before its
revisions, schemas before the operations that use them, products before their links), so
an item is always discovered after the items it names in ``after``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atg_dataplane import read_ahead

POLICY = "policy"
"""The only name a policy has at each scope."""
GENERATED = frozenset(
    {
        "provisioningState",
        "createdDate",
        "lastStatus",
        "isCurrent",
        "isOnline",
        "startDate",
        "stateComment",
        "notificationDate",
        "expirationDate",
        "endDate",
        "createdDateTime",
        "updatedDateTime",
        "registrationDate",
        "subject",
        "thumbprint",
        "groups",
    }
)
"""Properties the service sets itself: never compared, never written."""
PLACEHOLDER = "atg-dataplane-template-placeholder"
"""What a secret becomes in template mode (a named value, a subscription key)."""


@dataclass(frozen=True)
class Kind:
    name: str
    """Item kind, e.g. ``named_value``."""
    operations: str
    """Attribute of ``ApiManagementClient``: ``named_value``, ``api_operation`` ..."""
    parents: tuple[str, ...] = ()
    """Kinds whose ids come before this one's in its path: an operation's API."""
    list_method: str = "list_by_service"
    put_method: str = "create_or_update"
    lro: bool = False
    """Written with ``begin_create_or_update`` (a long-running operation)."""
    policy: bool = False
    """A policy: its own id is always ``policy``; its path is its scope's."""
    link: str = ""
    """For a link written without a body (a product's API): the kind it links to."""
    link_check: str = "check_entity_exists"
    """The HEAD method that says whether a link exists."""
    secrets: tuple[str, ...] = ()
    """REST properties returned only by ``reveal`` (``value``, ``primaryKey`` ...)."""
    reveal: str = ""
    secret_when: str = ""
    """The property that says whether ``secrets`` are secret at all (``secret``)."""
    inline_secrets: tuple[str, ...] = ()
    """Properties the service shows in clear but that hold secrets (a backend's credentials
    and proxy password): kept out of the item, written only in replication mode, compared
    by keyed hash."""
    per_revision: bool = True
    """Listed below every revision of an API (``orders;rev=2``), not only below the API:
    false for releases, which belong to the API as a whole."""
    model: str = ""
    """The SDK model a write sends (built from the REST shape: a dict would be read
    ambiguously where a model has a property called ``properties``, as backends do)."""


KINDS: tuple[Kind, ...] = (
    Kind(
        "named_value",
        "named_value",
        lro=True,
        secrets=("value",),
        reveal="list_value",
        secret_when="secret",
        model="NamedValueCreateContract",
    ),
    Kind("certificate", "certificate", model="CertificateCreateOrUpdateParameters"),
    Kind(
        "backend",
        "backend",
        inline_secrets=("credentials", "proxy"),
        model="BackendContract",
    ),
    Kind("policy_fragment", "policy_fragment", lro=True, model="PolicyFragmentContract"),
    Kind("tag", "tag", model="TagCreateUpdateParameters"),
    Kind("group", "group", model="GroupCreateParameters"),
    Kind("user", "user", model="UserCreateParameters"),
    Kind(
        "group_user",
        "group_user",
        parents=("group",),
        list_method="list",
        put_method="create",
        link="user",
    ),
    Kind("logger", "logger", model="LoggerContract"),
    Kind("diagnostic", "diagnostic", model="DiagnosticContract"),
    Kind("gateway", "gateway", model="GatewayContract"),
    Kind(
        "identity_provider",
        "identity_provider",
        secrets=("clientSecret",),
        reveal="list_secrets",
        model="IdentityProviderCreateContract",
    ),
    Kind(
        "authorization_server",
        "authorization_server",
        secrets=("clientSecret", "resourceOwnerUsername", "resourceOwnerPassword"),
        reveal="list_secrets",
        model="AuthorizationServerContract",
    ),
    Kind("version_set", "api_version_set", model="ApiVersionSetContract"),
    Kind("api", "api", lro=True, model="ApiCreateOrUpdateParameter"),
    Kind(
        "schema",
        "api_schema",
        parents=("api",),
        list_method="list_by_api",
        lro=True,
        model="SchemaContract",
    ),
    Kind(
        "release",
        "api_release",
        parents=("api",),
        list_method="list_by_service",
        per_revision=False,
        model="ApiReleaseContract",
    ),
    Kind(
        "operation",
        "api_operation",
        parents=("api",),
        list_method="list_by_api",
        model="OperationContract",
    ),
    Kind(
        "api_diagnostic",
        "api_diagnostic",
        parents=("api",),
        list_method="list_by_service",
        model="DiagnosticContract",
    ),
    Kind(
        "gateway_api",
        "gateway_api",
        parents=("gateway",),
        list_method="list_by_service",
        link="api",
        link_check="get_entity_tag",
    ),
    Kind(
        "api_tag",
        "tag",
        parents=("api",),
        list_method="list_by_api",
        put_method="assign_to_api",
        link="tag",
        link_check="get_entity_state_by_api",
    ),
    Kind(
        "operation_tag",
        "tag",
        parents=("api", "operation"),
        list_method="list_by_operation",
        put_method="assign_to_operation",
        link="tag",
        link_check="get_entity_state_by_operation",
    ),
    Kind("product", "product", model="ProductContract"),
    Kind(
        "product_tag",
        "tag",
        parents=("product",),
        list_method="list_by_product",
        put_method="assign_to_product",
        link="tag",
        link_check="get_entity_state_by_product",
    ),
    Kind(
        "product_group",
        "product_group",
        parents=("product",),
        list_method="list_by_product",
        link="group",
    ),
    Kind(
        "product_api",
        "product_api",
        parents=("product",),
        list_method="list_by_product",
        link="api",
    ),
    Kind("global_policy", "policy", policy=True, model="PolicyContract"),
    Kind(
        "api_policy",
        "api_policy",
        parents=("api",),
        list_method="list_by_api",
        policy=True,
        model="PolicyContract",
    ),
    Kind(
        "operation_policy",
        "api_operation_policy",
        parents=("api", "operation"),
        list_method="list_by_operation",
        policy=True,
        model="PolicyContract",
    ),
    Kind(
        "product_policy",
        "product_policy",
        parents=("product",),
        list_method="list_by_product",
        policy=True,
        model="PolicyContract",
    ),
    Kind(
        "subscription",
        "subscription",
        list_method="list",
        secrets=("primaryKey", "secondaryKey"),
        reveal="list_secrets",
        model="SubscriptionCreateParameters",
    ),
)
BY_NAME = {kind.name: kind for kind in KINDS}

ADMINISTRATOR = "1"
"""Every service's own administrator: never copied onto the target's."""
NO_PFX = (
    "API Management never returns an uploaded certificate's PFX: upload it to the target "
    "service under the same id, or keep it in Key Vault and reference it from there"
)
NO_PASSWORD = (
    "API Management never returns a user's password: the user is created without one and "
    "signs in after a password reset (or through an identity provider)"
)


def builtin(kind: Kind, path: tuple[str, ...], props: dict[str, Any]) -> bool:
    """Entities each service has of its own (built-in groups, the administrator): not
    copied, though a built-in group's members are."""
    if kind.name == "group":
        return bool(props.get("builtIn")) or props.get("type") == "system"
    return kind.name == "user" and path[-1] == ADMINISTRATOR


FOREIGN_USER = (
    "the user is an identity of the source tenant's Entra ID (or B2C): invite or create "
    "them in the target tenant, then add them to the target service"
)
FOREIGN_GROUP = (
    "an external group names a group of the source tenant's Entra ID: add the target "
    "tenant's counterpart group to the target service"
)


def not_copyable(kind: Kind, props: dict[str, Any]) -> str:
    """Why an entity cannot be copied in full (what the service never gives back, what
    names the source tenant's directory), or ``""``."""
    if kind.name == "certificate" and not props.get("keyVault"):
        return NO_PFX
    if kind.name == "group" and str(props.get("type") or "").lower() == "external":
        return FOREIGN_GROUP
    if kind.name == "user":
        providers = {str(i.get("provider") or "").lower() for i in props.get("identities") or []}
        return FOREIGN_USER if providers & {"aad", "aadb2c"} else NO_PASSWORD
    return ""


_NAMED_VALUE = re.compile(r"\{\{([^{}]+)\}\}")
_FRAGMENT = re.compile(r"<include-fragment\s+fragment-id\s*=\s*['\"]([^'\"]+)['\"]")
_BACKEND = re.compile(r"backend-id\s*=\s*['\"]([^'\"]+)['\"]")
_COLLECTIONS = {
    "apiversionsets": "version_set",
    "loggers": "logger",
    "products": "product",
    "apis": "api",
    "groups": "group",
    "backends": "backend",
    "certificates": "certificate",
    "users": "user",
}
_REFERENCE = re.compile(
    r"/(apiVersionSets|loggers|products|apis|groups|backends|certificates|users)/([^/]+)$", re.I
)
REVISION = ";rev="
"""How an API revision's id is spelled: ``orders;rev=2`` is revision 2 of ``orders``."""


def canonical(properties: dict[str, Any], service_id: str) -> dict[str, Any]:
    """Properties both sides can be compared on: generated ones dropped, ids made relative
    to the service at any depth (``/apiVersionSets/v1``, not the source tenant's full id),
    policy XML with its whitespace between tags collapsed."""
    prefix = service_id.lower() + "/"
    out: dict[str, Any] = {}
    for key, value in sorted(properties.items()):
        if key in GENERATED or value is None:
            continue
        value = _walk(
            value, lambda text: text[len(prefix) - 1 :] if text.lower().startswith(prefix) else text
        )
        if key == "value" and isinstance(value, str) and value.lstrip().startswith("<"):
            value = re.sub(r">\s+<", "><", value.strip())
        out[key] = value
    return out


def rebase(properties: dict[str, Any], source_id: str, target_id: str) -> dict[str, Any]:
    """For a write into the target: ids of the source service's entities (a version set,
    at any depth) become the target service's own."""
    prefix = source_id.lower() + "/"
    return {
        key: _walk(
            value,
            lambda text: (
                target_id + text[len(source_id) :] if text.lower().startswith(prefix) else text
            ),
        )
        for key, value in properties.items()
    }


def _walk(value: Any, change: Any) -> Any:
    """``value`` with ``change`` applied to every string inside it."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: _walk(v, change) for k, v in value.items() if k not in GENERATED}
    if isinstance(value, list):
        return [_walk(v, change) for v in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _values_of(value: Any, key: str) -> list[str]:
    """Every string held under ``key`` at any depth of ``value``."""
    if isinstance(value, dict):
        found = [str(v) for k, v in value.items() if k == key and isinstance(v, str)]
        return found + [s for v in value.values() for s in _values_of(v, key)]
    if isinstance(value, list):
        return [s for v in value for s in _values_of(v, key)]
    return []


def after(
    kind: Kind,
    path: tuple[str, ...],
    properties: dict[str, Any],
    named_values: dict[str, str],
    service_id: str = "",
) -> tuple[str, ...]:
    """Keys of the items this one must be written after: its parents, and what it names
    (named values by display name, policy fragments, backends, a version set, the product
    or API a subscription is scoped to: ids of the service's entities, or relative ones)."""
    needs: list[str] = []
    for depth, parent in enumerate(kind.parents):
        needs.append(f"{parent}:{'/'.join(path[: depth + 1])}")
    if kind.link:
        needs.append(f"{kind.link}:{path[-1]}")
    if kind.name == "api" and REVISION in path[-1]:  # a revision is made from its API
        needs.append(f"api:{path[-1].partition(REVISION)[0]}")
    if kind.name == "operation":  # the schemas its requests and responses use
        needs += [f"schema:{path[0]}/{name}" for name in _values_of(properties, "schemaId")]
    for text in _strings(properties):  # a policy, a backend's credentials, a logger's
        for name in _NAMED_VALUE.findall(text):
            if name.strip().lower() in named_values:
                needs.append(f"named_value:{named_values[name.strip().lower()]}")
    text = str(properties.get("value") or "")
    if kind.policy or kind.name == "policy_fragment":
        needs += [f"policy_fragment:{f}" for f in _FRAGMENT.findall(text)]
        needs += [f"backend:{b}" for b in _BACKEND.findall(text)]
    # ids of other entities (a version set, a logger, a scope): the service's full ids
    # anywhere, relative ones only in the properties that hold ids (not a URL template)
    for key, value in properties.items():
        relative_ok = key == "scope" or key.endswith("Id")
        for text in _strings(value):
            found = _REFERENCE.search(text)
            full = bool(service_id) and text.lower().startswith(service_id.lower() + "/")
            if found and (full or (relative_ok and found.start() == 0)):
                needs.append(f"{_COLLECTIONS[found.group(1).lower()]}:{found.group(2)}")
    return tuple(dict.fromkeys(needs))


def paths(
    client: Any, kind: Kind, group: str, service: str, parents: dict[str, list[tuple[str, ...]]]
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, entity)`` of every entity of ``kind`` in the service (parents' paths from
    ``parents``, kind -> paths discovered so far). The scopes (one per API, per operation
    ...) are listed several at a time, in their order: a service with a thousand
    operations would otherwise wait a thousand round trips for their policies."""
    operations = getattr(client, kind.operations)
    scopes = parents[kind.parents[-1]] if kind.parents else [()]
    wanted = [s for s in scopes if kind.per_revision or not s or REVISION not in s[0]]

    def listing(scope: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
        listed = getattr(operations, kind.list_method)(group, service, *scope)
        if kind.policy:  # a PolicyCollection (API scopes) or pages (service, product)
            found = listed.value if hasattr(listed, "value") else listed
            return [(scope, e) for e in found or [] if str(e.name).lower() == POLICY]
        return [((*scope, str(entity.name)), entity) for entity in listed]

    for found in read_ahead(listing, wanted):
        yield from found
