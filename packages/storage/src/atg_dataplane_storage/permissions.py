"""What each side needs, per mode: ARM actions and storage data actions, with built-in roles.

Names are Azure's (Microsoft.Storage resource provider operations). Blob,
table and queue data are reached with the side's Entra credential (OAuth).
``listKeys`` is needed on both sides for Azure Files (shares cannot be listed
or created with an Entra token: Shared Key it is), and on the source to sign
account-key SAS (files; blobs when a user delegation SAS is refused).

Blob index tags need ``.../blobs/tags/read`` at the source and
``.../blobs/tags/write`` at the target, which only Storage Blob Data Owner
(or a custom role) grants among the built-in roles. They are listed in
``TAG_PERMISSIONS`` but not declared as requirements: the hook has no way to
mark a permission optional, and requiring Owner on both sides for tags would
stop every run under the usual Reader/Contributor roles (see the README).
"""

from __future__ import annotations

from atg_dataplane import Permission, ReplicationMode
from atg_dataplane.models import Side

RESOURCE_TYPE = "Microsoft.Storage/storageAccounts"
_SA = "Microsoft.Storage/storageAccounts/"

ACCOUNT_READ = _SA + "read"
LIST_KEYS = _SA + "listKeys/action"
USER_DELEGATION_KEY = _SA + "blobServices/generateUserDelegationKey/action"

CONTAINER_READ = _SA + "blobServices/containers/read"
CONTAINER_WRITE = _SA + "blobServices/containers/write"
BLOB_READ = _SA + "blobServices/containers/blobs/read"
BLOB_WRITE = _SA + "blobServices/containers/blobs/write"
BLOB_ADD = _SA + "blobServices/containers/blobs/add/action"
BLOB_DELETE = _SA + "blobServices/containers/blobs/delete"
TAGS_READ = _SA + "blobServices/containers/blobs/tags/read"
TAGS_WRITE = _SA + "blobServices/containers/blobs/tags/write"

TABLE_READ = _SA + "tableServices/tables/read"
TABLE_WRITE = _SA + "tableServices/tables/write"
ENTITY_READ = _SA + "tableServices/tables/entities/read"
ENTITY_WRITE = _SA + "tableServices/tables/entities/write"
ENTITY_ADD = _SA + "tableServices/tables/entities/add/action"
ENTITY_UPDATE = _SA + "tableServices/tables/entities/update/action"

QUEUE_READ = _SA + "queueServices/queues/read"
QUEUE_WRITE = _SA + "queueServices/queues/write"
MESSAGE_READ = _SA + "queueServices/queues/messages/read"
MESSAGE_PROCESS = _SA + "queueServices/queues/messages/process/action"
MESSAGE_WRITE = _SA + "queueServices/queues/messages/write"
MESSAGE_ADD = _SA + "queueServices/queues/messages/add/action"

SHARE_READ = _SA + "fileServices/shares/read"
SHARE_WRITE = _SA + "fileServices/shares/write"
FILE_READ = _SA + "fileServices/fileshares/files/read"
FILE_WRITE = _SA + "fileServices/fileshares/files/write"
FILE_BACKUP_READ = _SA + "fileServices/readFileBackupSemantics/action"
FILE_BACKUP_WRITE = _SA + "fileServices/writeFileBackupSemantics/action"


TAG_PERMISSIONS = {"source": (TAGS_READ,), "target": (TAGS_READ, TAGS_WRITE)}


def _perm(
    side: Side,
    description: str,
    role: str,
    *,
    actions: tuple[str, ...] = (),
    data_actions: tuple[str, ...] = (),
) -> Permission:
    return Permission(
        scope="resource",
        side=side,
        resource_type=RESOURCE_TYPE,
        actions=actions,
        data_actions=data_actions,
        description=description,
        suggested_role=role,
    )


def permissions(mode: ReplicationMode) -> list[Permission]:
    full = mode is ReplicationMode.REPLICATION
    source = [
        _perm("source", "read the account (its endpoints)", "Reader", actions=(ACCOUNT_READ,)),
        _perm(
            "source",
            "list containers and blobs with metadata and tags"
            + ("; read blob contents (streamed fallback, fingerprints)" if full else ""),
            "Storage Blob Data Reader",
            actions=(CONTAINER_READ,),
            data_actions=(BLOB_READ,),
        ),
        _perm(
            "source",
            "list tables" + (" and read their entities" if full else ""),
            "Storage Table Data Reader",
            actions=(TABLE_READ,),
            data_actions=(ENTITY_READ,) if full else (),
        ),
        _perm(
            "source",
            "list queues with metadata"
            + (
                "; peek messages, or receive and restore them when a queue holds more than "
                "32 (storage.queue_read)"
                if full
                else ""
            ),
            "Storage Queue Data Contributor" if full else "Storage Queue Data Reader",
            actions=(QUEUE_READ,),
            data_actions=(MESSAGE_READ, MESSAGE_PROCESS, MESSAGE_WRITE)
            if full
            else (MESSAGE_READ,),
        ),
        _perm(
            "source",
            "read file shares, directories and files with Shared Key (Azure Files takes Entra "
            "tokens only for files and directories, never for shares)"
            + (
                "; sign account-key SAS for server-side copies (files; blobs when a user "
                "delegation SAS is refused)"
                if full
                else ""
            ),
            "Storage Account Contributor",
            actions=(LIST_KEYS,),
        ),
    ]
    if full:
        source += [
            _perm(
                "source",
                "sign a short-lived read-only user delegation SAS per blob, so the target "
                "copies server-side",
                "Storage Blob Data Reader",
                actions=(USER_DELEGATION_KEY,),
            ),
        ]
    target = [
        _perm("target", "read the account (its endpoints)", "Reader", actions=(ACCOUNT_READ,)),
        _perm(
            "target",
            "create containers with metadata and access level"
            + ("; write blobs (copy from URL), tags and tiers" if full else ""),
            "Storage Blob Data Contributor",
            actions=(CONTAINER_READ, CONTAINER_WRITE),
            data_actions=((BLOB_READ, BLOB_WRITE, BLOB_ADD, BLOB_DELETE) if full else (BLOB_READ,)),
        ),
        _perm(
            "target",
            "create tables" + (" and upsert entities in batches" if full else ""),
            "Storage Table Data Contributor",
            actions=(TABLE_READ, TABLE_WRITE),
            data_actions=(
                (ENTITY_READ, ENTITY_WRITE, ENTITY_ADD, ENTITY_UPDATE) if full else (ENTITY_READ,)
            ),
        ),
        _perm(
            "target",
            "create queues with metadata" + ("; peek and add messages" if full else ""),
            "Storage Queue Data Contributor",
            actions=(QUEUE_READ, QUEUE_WRITE),
            data_actions=(MESSAGE_READ, MESSAGE_WRITE) if full else (MESSAGE_READ,),
        ),
        _perm(
            "target",
            "create shares (quota, metadata)"
            + (", directories and files (copy from URL)" if full else "")
            + " with Shared Key",
            "Storage Account Contributor",
            actions=(LIST_KEYS,),
        ),
    ]
    return [*source, *target]
