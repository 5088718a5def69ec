"""atg-dataplane hooks for ``Microsoft.ApiManagement/service``.

Terraform recreates the gateway; this copies what is inside it, each entity one item, in
dependency order through ``DataPlaneItem.after`` (the engine runs the rest at once). Secret
named values and subscription keys are read on the source (``listValue``,
``listSecrets``) and written on the target only in replication mode; in template mode they
become clearly marked placeholders. Verification compares each entity's canonical
properties, and in replication mode the secrets through keyed fingerprints.

What API Management never gives back is reported per item: an uploaded certificate's PFX
(the item is not copyable; re-upload it or keep it in Key Vault), a user's password (the
user is recreated without one). Built-in groups and the administrator (user ``1``) are the
target's own and are not written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    Permission,
    ReplicationMode,
    ResourceBinding,
    ResourceTypeSpec,
    deferred,
    hookimpl,
)
from azure.core.exceptions import ResourceNotFoundError

from atg_dataplane_apimanagement import vaults
from atg_dataplane_apimanagement.entities import (
    BY_NAME,
    GENERATED,
    KINDS,
    NO_PASSWORD,
    PLACEHOLDER,
    POLICY,
    REVISION,
    Kind,
    after,
    builtin,
    canonical,
    not_copyable,
    paths,
    rebase,
)

if TYPE_CHECKING:
    import azure.mgmt.apimanagement as sdk
    from azure.mgmt.apimanagement import ApiManagementClient
else:  # the SDK is imported when a service is first worked on
    sdk = deferred("azure.mgmt.apimanagement")

RESOURCE_TYPE = "Microsoft.ApiManagement/service"
ARM_API_VERSION = "2024-05-01"
MAX_ITEMS_PER_SERVICE = 8
_NS = RESOURCE_TYPE
READS = tuple(
    f"{_NS}/{path}/read"
    for path in (
        "namedValues",
        "certificates",
        "users",
        "groups/users",
        "policyFragments",
        "backends",
        "tags",
        "groups",
        "loggers",
        "diagnostics",
        "gateways",
        "gateways/apis",
        "identityProviders",
        "authorizationServers",
        "apiVersionSets",
        "apis",
        "apis/operations",
        "apis/schemas",
        "apis/releases",
        "apis/tags",
        "apis/operations/tags",
        "products/tags",
        "apis/diagnostics",
        "apis/policies",
        "apis/operations/policies",
        "products",
        "products/apis",
        "products/groups",
        "products/policies",
        "policies",
        "subscriptions",
    )
)
WRITES = tuple(action.replace("/read", "/write") for action in READS)
SECRETS = (
    f"{_NS}/namedValues/listValue/action",
    f"{_NS}/subscriptions/listSecrets/action",
    f"{_NS}/identityProviders/listSecrets/action",
    f"{_NS}/authorizationServers/listSecrets/action",
)
VAULTS = ("Microsoft.KeyVault/vaults/read",)
"""Key Vault-backed named values: the vaults are looked up through ARM on both sides."""


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=tuple(kind.name for kind in KINDS),
            max_concurrency_per_resource=MAX_ITEMS_PER_SERVICE,
            arm_api_version=ARM_API_VERSION,
            description="API Management: named values, certificates, fragments, backends, "
            "version sets, APIs with revisions, releases, schemas and operations, policies, "
            "tags, products, groups, users and subscriptions",
        )
    ]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    role = "API Management Service Contributor"
    source = READS + (SECRETS if ReplicationMode(mode) is ReplicationMode.REPLICATION else ())
    return [
        Permission(
            "resource",
            source,
            side="source",
            resource_type=RESOURCE_TYPE,
            description="read the service's entities (and their secrets)",
            suggested_role=role,
        ),
        Permission(
            "resource",
            READS + WRITES + SECRETS,
            side="target",
            resource_type=RESOURCE_TYPE,
            description="write the service's entities",
            suggested_role=role,
        ),
        *(
            Permission(
                "subscription",
                VAULTS,
                side=side,
                description="find the vaults Key Vault-backed named values point at",
                suggested_role="Reader",
                optional=True,
            )
            for side in ("source", "target")
        ),
    ]


def client(binding: ResourceBinding) -> ApiManagementClient:
    found: ApiManagementClient = binding.context.mgmt(
        sdk.ApiManagementClient, binding.resource.subscription_id
    )
    return found


def _where(binding: ResourceBinding) -> tuple[str, str]:
    return binding.resource.resource_group, binding.resource.name


def _props(entity: Any) -> dict[str, Any]:
    return dict(entity.serialize(keep_readonly=True).get("properties") or {})


def _is_secret(kind: Kind, props: Mapping[str, Any]) -> bool:
    """Whether the entity holds a secret of its own (a Key Vault-backed value's is in the
    vault: only its reference is copied)."""
    if not kind.secrets or props.get("keyVault"):
        return False
    return not kind.secret_when or bool(props.get(kind.secret_when))


@hookimpl
def dataplane_discover(resource: ResourceBinding) -> Iterator[DataPlaneItem]:
    api = client(resource)
    group, service = _where(resource)
    service_id = resource.resource.id
    found: dict[str, list[tuple[str, ...]]] = {}
    named_values: dict[str, str] = {}
    blocked: dict[str, str] = {}
    """Keys of entities that cannot be copied -> why: links to them cannot be either."""
    for kind in KINDS:
        found[kind.name] = []
        for path, entity in paths(api, kind, group, service, found):
            found[kind.name].append(path)  # a built-in group's members are still listed
            raw = _props(entity)
            if builtin(kind, path, raw):
                continue
            if kind.name == "named_value":
                named_values[str(raw.get("displayName") or path[-1]).lower()] = path[-1]
                named_values.setdefault(path[-1].lower(), path[-1])
            props = {} if kind.link else _compared(kind, raw, resource)
            needs = after(kind, path, raw, named_values, service_id)
            reason = not_copyable(kind, raw)
            gone = [key for key in needs if key in blocked] if kind.link else []
            if gone:
                reason = f"needs {gone[0]}, which cannot be copied: {blocked[gone[0]]}"
            name = "/".join(path) or "service"
            recreated = reason == NO_PASSWORD  # the user, without a password
            if reason and not recreated:
                blocked[f"{kind.name}:{name}"] = reason
            yield DataPlaneItem(
                name=name,
                kind=kind.name,
                source_resource_id=service_id,
                properties=props,
                after=needs,
                copyable=not reason,
                not_copyable_reason=reason,
                recreated=recreated,
            )


def _path(item: DataPlaneItem) -> tuple[str, ...]:
    """The entity ids of an item's name; the global policy's scope is the service."""
    return () if item.kind == "global_policy" else tuple(item.name.split("/"))


def _call(
    binding: ResourceBinding, kind: Kind, method: str, path: tuple[str, ...], *rest: Any
) -> Any:
    operations = getattr(client(binding), kind.operations)
    args = (*path, POLICY) if kind.policy else path
    return getattr(operations, method)(*_where(binding), *args, *rest)


def _read(binding: ResourceBinding, kind: Kind, path: tuple[str, ...]) -> dict[str, Any] | None:
    """The entity's REST properties on ``binding``'s side, or None when it has none."""
    try:
        if kind.link:  # HEAD: 204 (or 200) when linked, 404 when not (which the SDK raises)
            return {} if _call(binding, kind, kind.link_check, path) else None
        return _props(_call(binding, kind, "get", path))
    except ResourceNotFoundError:
        return None


def _secrets(binding: ResourceBinding, kind: Kind, path: tuple[str, ...]) -> dict[str, str]:
    """The entity's secret properties, read through its ``list*`` action."""
    revealed = _call(binding, kind, kind.reveal, path).serialize(keep_readonly=True)
    return {key: str(revealed.get(key) or "") for key in kind.secrets}


@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    kind, path = BY_NAME[item.kind], _path(item)
    if not item.copyable and not item.recreated:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    replication = ReplicationMode(mode) is ReplicationMode.REPLICATION
    raw = _read(source, kind, path)
    if raw is None:
        raise ItemError(f"{item.kind} {item.name} is gone from the source", remedy="re-run")
    existing = _read(target, kind, path)
    secret = _is_secret(kind, raw)
    wanted: dict[str, str] = {}
    if secret:
        wanted = (
            _secrets(source, kind, path)
            if replication
            else {key: f"{PLACEHOLDER}-{n}" for n, key in enumerate(kind.secrets, 1)}
        )
    if existing is not None and _same(kind, raw, existing, source, target):
        if not replication or (not secret and not kind.inline_secrets):
            return ItemOutcome(status="unchanged")
        theirs = _secrets(target, kind, path) if secret else {}
        if fingerprinter.of([theirs, _inline(kind, existing)]) == fingerprinter.of(
            [wanted, _inline(kind, rebase(raw, source.resource.id, target.resource.id))]
        ):
            return ItemOutcome(status="unchanged")
    if kind.link:
        _call(target, kind, kind.put_method, path)
        return ItemOutcome(status="replicated")
    # inline secrets (a backend's credentials) travel only in replication mode
    left_out = kind.secrets + (() if replication else kind.inline_secrets)
    properties = rebase(
        {k: v for k, v in raw.items() if k not in left_out and k not in GENERATED},
        source.resource.id,
        target.resource.id,
    )
    properties = vaults.repoint(properties, source, target)
    properties.update(wanted)
    if kind.name == "named_value" and not secret and "value" in raw:
        properties["value"] = raw["value"]
    if kind.name == "api" and REVISION in path[-1]:  # Azure makes a revision from its API
        properties["sourceApiId"] = f"{target.resource.id}/apis/{path[-1].partition(REVISION)[0]}"
    body = getattr(sdk.models, kind.model).deserialize({"properties": properties})
    if kind.lro:
        _call(target, kind, "begin_" + kind.put_method, path, body).result()
    else:
        _call(target, kind, kind.put_method, path, body)
    warnings = (
        (f"{item.kind} {item.name}: secret written as a template placeholder",)
        if (secret and not replication)
        else ()
    )
    return ItemOutcome(status="replicated", warnings=warnings)


def _same(
    kind: Kind,
    raw: dict[str, Any],
    existing: dict[str, Any],
    source: ResourceBinding,
    target: ResourceBinding,
) -> bool:
    return bool(kind.link) or _compared(kind, raw, source) == _compared(kind, existing, target)


def _compared(kind: Kind, props: dict[str, Any], binding: ResourceBinding) -> dict[str, Any]:
    """What both sides are compared on: the canonical properties, a Key Vault reference by
    vault name, no secret."""
    found = canonical(vaults.reference(props, binding), binding.resource.id)
    for secret in (kind.secrets if _is_secret(kind, props) else ()) + kind.inline_secrets:
        found.pop(secret, None)
    return found


def _inline(kind: Kind, props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in kind.inline_secrets}


@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    """Secrets compared by keyed hash; everything else is in the item's properties."""
    kind, path = BY_NAME[item.kind], _path(item)
    if not kind.secrets and not kind.inline_secrets:
        return None
    raw = _read(resource, kind, path)
    if raw is None:
        return None
    secret = _is_secret(kind, raw)
    if not secret and not any(raw.get(key) for key in kind.inline_secrets):
        return None
    inline = canonical(_inline(kind, raw), resource.resource.id)
    return fingerprinter.of([_secrets(resource, kind, path) if secret else {}, inline])
