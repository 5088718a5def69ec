"""The pre-flight permission check.

For every resource to be touched, what each side needs in the chosen mode
(collected from the plugins) is checked against what the caller really has:
the ARM permissions API (wildcards and not-actions honoured) at the resource
group's scope, and at the resource's own where the group's grants fall short,
plus Key Vault style access policies where a resource uses them instead of RBAC.
Each gap comes with the built-in role that grants it and the exact command that
fixes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from atg_dataplane.context import ResourceBinding
from atg_dataplane.models import Permission, ReplicationMode, Side, parse_resource_id
from atg_dataplane.plugins import PluginHost


@dataclass(frozen=True)
class Gap:
    side: Side
    resource_id: str
    kind: str
    """``action``, ``data_action`` or ``access_policy``."""
    name: str
    role: str
    fix: str
    optional: bool = False
    """Only a feature needs it (the run goes on without it, with a warning)."""

    def to_dict(self) -> dict[str, str]:
        return dict(vars(self))


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$", re.IGNORECASE)


def _matches(action: str, patterns: Iterable[str]) -> bool:
    return any(_pattern(p).match(action) for p in patterns)


def allowed(action: str, grants: Iterable[Any], *, data: bool) -> bool:
    """True when one grant allows ``action`` and does not exclude it."""
    for grant in grants:
        allow = (grant.data_actions if data else grant.actions) or []
        deny = (grant.not_data_actions if data else grant.not_actions) or []
        if _matches(action, allow) and not _matches(action, deny):
            return True
    return False


def required(
    host: PluginHost,
    resource_type: str,
    mode: ReplicationMode,
    options: Mapping[str, Any] | None = None,
) -> list[Permission]:
    hook = host.hook_for(resource_type, "dataplane_permissions")
    answers = hook(resource_type=resource_type, mode=mode, options=dict(options or {}))
    return [p for answer in answers for p in (answer or ())]


def _authorization(binding: ResourceBinding) -> Any:
    from azure.mgmt.authorization import AuthorizationManagementClient

    ctx = binding.context
    return ctx.cached_client(
        "authorization",
        lambda: AuthorizationManagementClient(
            ctx.credential, ctx.subscription_id, **ctx.arm_kwargs()
        ),
    )


def _grants_on_group(binding: ResourceBinding) -> list[Any]:
    """What the caller holds on the resource's group, looked up once per group and side.

    A resource inherits every grant of its group, so when these already cover a
    resource's needs, its own look-up is not needed: a tenant of thousands of resources in
    a few groups costs a few look-ups, not one per resource (ARM limits reads per hour).
    """
    group = parse_resource_id(binding.resource.id)["group"]

    def look_up() -> list[Any]:
        from azure.core.exceptions import HttpResponseError

        try:
            return list(_authorization(binding).permissions.list_for_resource_group(group))
        except HttpResponseError:
            return []  # e.g. refused at the group's scope: each resource is asked instead

    return list(binding.context.cached_client(f"permissions:{group.lower()}", look_up))


def _grants_at(binding: ResourceBinding) -> list[Any]:
    """What the caller holds on the resource itself (its group's grants included)."""
    client = _authorization(binding)
    parts = parse_resource_id(binding.resource.id)
    rest = parts["type"].split("/", 1)[1]
    types = rest.split("/")
    names = binding.resource.id.split("/providers/", 1)[1].split("/")[2::2]
    parent = "/".join(f"{t}/{n}" for t, n in zip(types[:-1], names[:-1], strict=True))
    return list(
        client.permissions.list_for_resource(
            resource_group_name=parts["group"],
            resource_provider_namespace=parts["namespace"],
            parent_resource_path=parent,
            resource_type=types[-1],
            resource_name=parts["name"],
        )
    )


def _uses_access_policies(binding: ResourceBinding) -> bool:
    props = binding.resource.properties
    return "accessPolicies" in props and not props.get("enableRbacAuthorization", False)


def _policy_gaps(
    binding: ResourceBinding, needed: Mapping[str, tuple[str, ...]], claims: Mapping[str, Any]
) -> dict[str, list[str]]:
    oid = str(claims.get("oid", "")).lower()
    granted: dict[str, set[str]] = {}
    for policy in binding.resource.properties.get("accessPolicies") or []:
        if str(policy.get("objectId", "")).lower() != oid:
            continue
        for collection, perms in (policy.get("permissions") or {}).items():
            granted.setdefault(collection.lower(), set()).update(p.lower() for p in perms)
    gaps: dict[str, list[str]] = {}
    for collection, perms in needed.items():
        have = granted.get(collection.lower(), set())
        lacking = [p for p in perms if p.lower() not in have and "all" not in have]
        if lacking:
            gaps[collection] = lacking
    return gaps


def _covered(needs: Iterable[Permission], grants: list[Any], policies: bool) -> bool:
    """Every RBAC action (and data action, unless access policies rule) of ``needs`` is
    allowed by ``grants``."""
    for perm in needs:
        if not all(allowed(a, grants, data=False) for a in perm.actions):
            return False
        if not policies and not all(allowed(a, grants, data=True) for a in perm.data_actions):
            return False
    return True


def check_binding(
    host: PluginHost,
    binding: ResourceBinding,
    resource_type: str,
    mode: ReplicationMode,
    claims: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
) -> list[Gap]:
    """Gaps on one side of one resource."""
    side = binding.side
    needs = [p for p in required(host, resource_type, mode, options) if p.side == side]
    if not needs:
        return []
    policies = _uses_access_policies(binding)
    grants = _grants_on_group(binding)
    if not _covered(needs, grants, policies):
        grants = _grants_at(binding)  # a grant on the resource itself may cover the rest
    assignee = claims.get("appid") or claims.get("azp") or claims.get("oid") or "<principal>"
    rid = binding.resource.id
    gaps: list[Gap] = []
    for perm in needs:
        role = perm.suggested_role or "a role granting it"
        fix = f'az role assignment create --assignee {assignee} --role "{role}" --scope {rid}'
        for action in perm.actions:
            if not allowed(action, grants, data=False):
                gaps.append(Gap(side, rid, "action", action, role, fix, perm.optional))
        if policies and perm.access_policy:
            for collection, lacking in _policy_gaps(binding, perm.access_policy, claims).items():
                policy_fix = (
                    f"az keyvault set-policy --name {binding.resource.name} "
                    f"--object-id {claims.get('oid', '<object id>')} "
                    f"--{collection.rstrip('s')}-permissions {' '.join(lacking)}"
                )
                for name in lacking:
                    gaps.append(
                        Gap(
                            side,
                            rid,
                            "access_policy",
                            f"{collection}/{name}",
                            "access policy",
                            policy_fix,
                            perm.optional,
                        )
                    )
        elif not policies:
            for action in perm.data_actions:
                if not allowed(action, grants, data=True):
                    gaps.append(Gap(side, rid, "data_action", action, role, fix, perm.optional))
    return gaps
