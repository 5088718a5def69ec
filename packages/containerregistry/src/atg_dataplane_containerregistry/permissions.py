"""What each side needs, per mode (Azure's RBAC action names for registries: pull and push
are control-plane actions of AcrPull and AcrPush, not data actions).

Registries without repository permissions (the usual kind) take AcrPull, AcrPush and the
ARM roles; a registry with ABAC repository permissions (``roleAssignmentMode``
``AbacRepositoryPermissions``) needs the repository-scoped roles instead, which the
permission check cannot see: the copy then reports what the registry refused.
"""

from __future__ import annotations

from atg_dataplane import Permission, ReplicationMode
from atg_dataplane.models import Side

RESOURCE_TYPE = "Microsoft.ContainerRegistry/registries"
READ = "Microsoft.ContainerRegistry/registries/read"
PULL = "Microsoft.ContainerRegistry/registries/pull/read"
PUSH = "Microsoft.ContainerRegistry/registries/push/write"
IMPORT = "Microsoft.ContainerRegistry/registries/importImage/action"


def _perm(side: Side, description: str, role: str, *actions: str, **kw: bool) -> Permission:
    return Permission(
        "resource",
        actions,
        side=side,
        resource_type=RESOURCE_TYPE,
        description=description,
        suggested_role=role,
        **kw,
    )


def permissions(mode: ReplicationMode) -> list[Permission]:
    source = [
        _perm("source", "read the registry (its login server)", "Reader", READ),
        _perm(
            "source",
            "list repositories, tags and manifests, and pull them",
            "AcrPull",
            PULL,
        ),
    ]
    target = [_perm("target", "read the registry (its login server)", "Reader", READ)]
    if mode is ReplicationMode.TEMPLATE:
        target.append(_perm("target", "list what the registry holds", "AcrPull", PULL))
        return source + target
    target += [
        _perm(
            "target",
            "push manifests and blobs, and set tag and manifest attributes",
            "AcrPush",
            PULL,
            PUSH,
        ),
        _perm(
            "target",
            "import images server-side (without it, images are copied through this process)",
            "Contributor",
            IMPORT,
            optional=True,
        ),
    ]
    return source + target
