"""Who may do what in a vault: Azure RBAC data actions or the vault's access policies."""

from __future__ import annotations

from typing import Any

from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.errors import AzureError

_KV = "Microsoft.KeyVault/vaults"

# (collection, operation) -> (RBAC data action, access-policy permission)
OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("secrets", "get"): (f"{_KV}/secrets/getSecret/action", "get"),
    ("secrets", "list"): (f"{_KV}/secrets/readMetadata/action", "list"),
    ("secrets", "getdeleted"): (f"{_KV}/secrets/readMetadata/action", "get"),
    ("secrets", "set"): (f"{_KV}/secrets/setSecret/action", "set"),
    ("secrets", "update"): (f"{_KV}/secrets/update/action", "set"),
    ("secrets", "delete"): (f"{_KV}/secrets/delete", "delete"),
    ("secrets", "backup"): (f"{_KV}/secrets/backup/action", "backup"),
    ("secrets", "restore"): (f"{_KV}/secrets/restore/action", "restore"),
    ("secrets", "recover"): (f"{_KV}/secrets/recover/action", "recover"),
    ("secrets", "purge"): (f"{_KV}/secrets/purge/action", "purge"),
    ("keys", "get"): (f"{_KV}/keys/read", "get"),
    ("keys", "list"): (f"{_KV}/keys/read", "list"),
    ("keys", "getdeleted"): (f"{_KV}/keys/read", "get"),
    ("keys", "create"): (f"{_KV}/keys/create/action", "create"),
    ("keys", "import"): (f"{_KV}/keys/import/action", "import"),
    ("keys", "update"): (f"{_KV}/keys/update/action", "update"),
    ("keys", "delete"): (f"{_KV}/keys/delete", "delete"),
    ("keys", "backup"): (f"{_KV}/keys/backup/action", "backup"),
    ("keys", "restore"): (f"{_KV}/keys/restore/action", "restore"),
    ("keys", "recover"): (f"{_KV}/keys/recover/action", "recover"),
    ("keys", "purge"): (f"{_KV}/keys/purge/action", "purge"),
    ("keys", "release"): (f"{_KV}/keys/release/action", "release"),
    ("keys", "rotate"): (f"{_KV}/keys/rotate/action", "rotate"),
    ("keys", "getrotationpolicy"): (f"{_KV}/keyrotationpolicies/read", "getrotationpolicy"),
    ("keys", "setrotationpolicy"): (f"{_KV}/keyrotationpolicies/write", "setrotationpolicy"),
    ("keys", "encrypt"): (f"{_KV}/keys/encrypt/action", "encrypt"),
    ("keys", "decrypt"): (f"{_KV}/keys/decrypt/action", "decrypt"),
    ("keys", "wrapkey"): (f"{_KV}/keys/wrap/action", "wrapKey"),
    ("keys", "unwrapkey"): (f"{_KV}/keys/unwrap/action", "unwrapKey"),
    ("keys", "sign"): (f"{_KV}/keys/sign/action", "sign"),
    ("keys", "verify"): (f"{_KV}/keys/verify/action", "verify"),
    ("certificates", "get"): (f"{_KV}/certificates/read", "get"),
    ("certificates", "list"): (f"{_KV}/certificates/read", "list"),
    ("certificates", "getdeleted"): (f"{_KV}/certificates/read", "get"),
    ("certificates", "create"): (f"{_KV}/certificates/create/action", "create"),
    ("certificates", "import"): (f"{_KV}/certificates/import/action", "import"),
    ("certificates", "update"): (f"{_KV}/certificates/update/action", "update"),
    ("certificates", "delete"): (f"{_KV}/certificates/delete", "delete"),
    ("certificates", "backup"): (f"{_KV}/certificates/backup/action", "backup"),
    ("certificates", "restore"): (f"{_KV}/certificates/restore/action", "restore"),
    ("certificates", "recover"): (f"{_KV}/certificates/recover/action", "recover"),
    ("certificates", "purge"): (f"{_KV}/certificates/purge/action", "purge"),
    ("certificates", "getissuers"): (f"{_KV}/certificatecas/read", "getissuers"),
    ("certificates", "listissuers"): (f"{_KV}/certificatecas/read", "listissuers"),
    ("certificates", "setissuers"): (f"{_KV}/certificatecas/write", "setissuers"),
    ("certificates", "deleteissuers"): (f"{_KV}/certificatecas/delete", "deleteissuers"),
    ("certificates", "managecontacts"): (f"{_KV}/certificatecontacts/write", "managecontacts"),
}


def check(
    *,
    resource: dict[str, Any],
    assignments: list[dict[str, Any]],
    custom_roles: dict[str, Any],
    claims: Any,
    collection: str,
    operation: str,
    object_path: str,
) -> None:
    """Raise Key Vault's 403 unless the caller may do ``operation`` on ``collection``."""
    data_action, permission = OPERATIONS[(collection, operation)]
    props = resource["properties"]
    caller = f"appid={claims.app_id};oid={claims.object_id};iss={claims.issuer}"
    vault = f"{resource['name']};location={resource.get('location')}"
    if props.get("enableRbacAuthorization"):
        scope = f"{resource['id']}/{object_path}".rstrip("/")
        blocks = rbac.permissions_at(assignments, claims.object_id, scope, custom_roles)
        if rbac.is_allowed(blocks, data_action, data=True):
            return
        raise AzureError(
            403,
            "Forbidden",
            (
                "Caller is not authorized to perform action on resource.\r\nIf role assignments, "
                "deny assignments or role definitions were changed recently, please observe "
                f"propagation time.\r\nCaller: {caller}\r\nAction: '{data_action}'\r\nResource: "
                f"'{scope.lower()}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\n"
                f"DecisionReason: null \r\nVault: {vault}\r\n"
            ),
            inner_code="ForbiddenByRbac",
        )
    for policy in props.get("accessPolicies") or []:
        if policy.get("objectId", "").lower() != claims.object_id.lower():
            continue
        if policy.get("tenantId", "").lower() != claims.tenant_id.lower():
            continue
        granted = {p.lower() for p in (policy.get("permissions") or {}).get(collection, [])}
        if permission.lower() in granted or "all" in granted:
            return
    raise AzureError(
        403,
        "Forbidden",
        (
            f"The user, group or application '{caller}' does not have {collection} {permission} "
            f"permission on key vault '{vault}'. For help resolving this issue, please see "
            "https://go.microsoft.com/fwlink/?linkid=2125287"
        ),
        inner_code="AccessDenied",
    )
