"""What each side needs, per mode: RBAC data actions and the access-policy form.

Data action names are Azure's (Key Vault RBAC, as mapped from access-policy
permissions by Microsoft's AccessPolicy-to-RBAC comparison tool). A vault uses
either RBAC (``enableRbacAuthorization``) or access policies, so every
requirement carries both forms; the core checks the one the vault uses.
"""

from __future__ import annotations

from atg_dataplane import Permission, ReplicationMode
from atg_dataplane.models import Side

RESOURCE_TYPE = "Microsoft.KeyVault/vaults"
VAULT_READ = "Microsoft.KeyVault/vaults/read"

_DA = "Microsoft.KeyVault/vaults/"

SECRET_LIST = _DA + "secrets/readMetadata/action"
SECRET_GET = _DA + "secrets/getSecret/action"
SECRET_SET = _DA + "secrets/setSecret/action"
SECRET_UPDATE = _DA + "secrets/update/action"
SECRET_RECOVER = _DA + "secrets/recover/action"

KEY_READ = _DA + "keys/read"
KEY_CREATE = _DA + "keys/create/action"
KEY_UPDATE = _DA + "keys/update/action"
KEY_BACKUP = _DA + "keys/backup/action"
KEY_RESTORE = _DA + "keys/restore/action"
KEY_RECOVER = _DA + "keys/recover/action"

CERT_READ = _DA + "certificates/read"
CERT_CREATE = _DA + "certificates/create/action"
CERT_IMPORT = _DA + "certificates/import/action"
CERT_UPDATE = _DA + "certificates/update/action"
CERT_RECOVER = _DA + "certificates/recover/action"


def _perm(
    side: Side,
    description: str,
    data_actions: tuple[str, ...],
    role: str,
    access_policy: dict[str, tuple[str, ...]],
) -> Permission:
    return Permission(
        scope="resource",
        side=side,
        resource_type=RESOURCE_TYPE,
        data_actions=data_actions,
        description=description,
        suggested_role=role,
        access_policy=access_policy,
    )


def _vault_read(side: Side) -> Permission:
    return Permission(
        scope="resource",
        side=side,
        resource_type=RESOURCE_TYPE,
        actions=(VAULT_READ,),
        description="read the vault (its URI, permission model and purge protection)",
        suggested_role="Reader",
    )


def permissions(mode: ReplicationMode) -> list[Permission]:
    if mode is ReplicationMode.TEMPLATE:
        source = [
            _perm(
                "source",
                "list secrets and read their attributes (never their values)",
                (SECRET_LIST,),
                "Key Vault Reader",
                {"secrets": ("list",)},
            ),
            _perm(
                "source",
                "read keys' parameters (type, size or curve, operations)",
                (KEY_READ,),
                "Key Vault Reader",
                {"keys": ("get", "list")},
            ),
            _perm(
                "source",
                "read certificates and their policies",
                (CERT_READ,),
                "Key Vault Reader",
                {"certificates": ("get", "list")},
            ),
        ]
        target = [
            _perm(
                "target",
                "create secrets with placeholder values and set their attributes; "
                "recover soft-deleted ones",
                (SECRET_LIST, SECRET_GET, SECRET_SET, SECRET_UPDATE, SECRET_RECOVER),
                "Key Vault Secrets Officer",
                {"secrets": ("get", "list", "set", "recover")},
            ),
            _perm(
                "target",
                "create keys with the same parameters; recover soft-deleted ones",
                (KEY_READ, KEY_CREATE, KEY_UPDATE, KEY_RECOVER),
                "Key Vault Crypto Officer",
                {"keys": ("get", "list", "create", "update", "recover")},
            ),
            _perm(
                "target",
                "create self-signed certificates from the source policies; recover "
                "soft-deleted ones",
                (CERT_READ, CERT_CREATE, CERT_UPDATE, CERT_RECOVER),
                "Key Vault Certificates Officer",
                {"certificates": ("get", "list", "create", "update", "recover")},
            ),
        ]
    else:
        source = [
            _perm(
                "source",
                "read secret values and attributes",
                (SECRET_LIST, SECRET_GET),
                "Key Vault Secrets User",
                {"secrets": ("get", "list")},
            ),
            _perm(
                "source",
                "read keys' parameters and back keys up (a backup restores only in "
                "the same subscription and geography; otherwise keys are recreated)",
                (KEY_READ, KEY_BACKUP),
                "Key Vault Crypto Officer",
                {"keys": ("get", "list", "backup")},
            ),
            _perm(
                "source",
                "read certificates, and export exportable ones with their private "
                "key through the secret that backs them",
                (CERT_READ, SECRET_GET, SECRET_LIST),
                "Key Vault Certificate User",
                {"certificates": ("get", "list"), "secrets": ("get",)},
            ),
        ]
        target = [
            _perm(
                "target",
                "write secret values and attributes; recover soft-deleted ones",
                (SECRET_LIST, SECRET_GET, SECRET_SET, SECRET_UPDATE, SECRET_RECOVER),
                "Key Vault Secrets Officer",
                {"secrets": ("get", "list", "set", "recover")},
            ),
            _perm(
                "target",
                "restore key backups or create keys with the same parameters; "
                "recover soft-deleted ones",
                (KEY_READ, KEY_CREATE, KEY_UPDATE, KEY_RESTORE, KEY_RECOVER),
                "Key Vault Crypto Officer",
                {"keys": ("get", "list", "create", "update", "restore", "recover")},
            ),
            _perm(
                "target",
                "import certificates (or issue self-signed ones from their policy); "
                "recover soft-deleted ones",
                (CERT_READ, CERT_IMPORT, CERT_CREATE, CERT_UPDATE, CERT_RECOVER),
                "Key Vault Certificates Officer",
                {"certificates": ("get", "list", "import", "create", "update", "recover")},
            ),
        ]
    return [_vault_read("source"), *source, _vault_read("target"), *target]
