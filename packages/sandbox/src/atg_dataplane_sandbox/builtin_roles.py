"""A subset of Azure's built-in role definitions, with their real ids and permissions.

Ids and permissions as published by Azure (``az role definition list``); trimmed of
actions for providers the sandbox does not emulate only where that changes nothing.
"""

from __future__ import annotations

from typing import Any

_KV_CONTROL = [
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
]
_MGMT_COMMON = [
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.ResourceHealth/availabilityStatuses/read",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
]


def _role(
    role_id: str,
    name: str,
    description: str,
    actions: list[str] | None = None,
    not_actions: list[str] | None = None,
    data_actions: list[str] | None = None,
    not_data_actions: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": role_id,
        "roleName": name,
        "description": description,
        "type": "BuiltInRole",
        "permissions": [
            {
                "actions": actions or [],
                "notActions": not_actions or [],
                "dataActions": data_actions or [],
                "notDataActions": not_data_actions or [],
            }
        ],
    }


BUILTIN_ROLES: list[dict[str, Any]] = [
    _role(
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "Reader",
        "View all resources, but does not allow you to make any changes.",
        ["*/read"],
    ),
    _role(
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Contributor",
        "Grants full access to manage all resources, but does not allow you to assign roles "
        "in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        ["*"],
        [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
    ),
    _role(
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "Owner",
        "Grants full access to manage all resources, including the ability to assign roles "
        "in Azure RBAC.",
        ["*"],
    ),
    _role(
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Key Vault Administrator",
        "Perform all data plane operations on a key vault and all objects in it, including "
        "certificates, keys, and secrets. Cannot manage key vault resources or manage role "
        "assignments. Only works for key vaults that use the 'Azure role-based access "
        "control' permission model.",
        _KV_CONTROL,
        data_actions=["Microsoft.KeyVault/vaults/*"],
    ),
    _role(
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
        "Perform any action on the secrets of a key vault, except manage permissions. Only "
        "works for key vaults that use the 'Azure role-based access control' permission model.",
        _KV_CONTROL,
        data_actions=["Microsoft.KeyVault/vaults/secrets/*"],
    ),
    _role(
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Key Vault Secrets User",
        "Read secret contents. Only works for key vaults that use the 'Azure role-based "
        "access control' permission model.",
        data_actions=[
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
    ),
    _role(
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
        "Perform any action on the keys of a key vault, except manage permissions. Only works "
        "for key vaults that use the 'Azure role-based access control' permission model.",
        _KV_CONTROL,
        data_actions=[
            "Microsoft.KeyVault/vaults/keys/*",
            "Microsoft.KeyVault/vaults/keyrotationpolicies/*",
        ],
    ),
    _role(
        "a4417e6f-fecd-4de8-b567-7b0420556985",
        "Key Vault Certificates Officer",
        "Perform any action on the certificates of a key vault, except manage permissions. "
        "Only works for key vaults that use the 'Azure role-based access control' permission "
        "model.",
        _KV_CONTROL,
        data_actions=[
            "Microsoft.KeyVault/vaults/certificatecas/*",
            "Microsoft.KeyVault/vaults/certificates/*",
            "Microsoft.KeyVault/vaults/certificatecontacts/write",
        ],
    ),
    _role(
        "21090545-7ca7-4776-b22c-e363652d74d2",
        "Key Vault Reader",
        "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read "
        "sensitive values such as secret contents or key material. Only works for key vaults "
        "that use the 'Azure role-based access control' permission model.",
        _KV_CONTROL,
        data_actions=[
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
    ),
    _role(
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "Storage Blob Data Contributor",
        "Read, write, and delete Azure Storage containers and blobs.",
        [
            "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        data_actions=[
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
        ],
    ),
    _role(
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "Storage Blob Data Reader",
        "Read and list Azure Storage containers and blobs.",
        [
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        data_actions=["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
    ),
    _role(
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
        "Storage Queue Data Contributor",
        "Read, write, and delete Azure Storage queues and queue messages.",
        [
            "Microsoft.Storage/storageAccounts/queueServices/queues/delete",
            "Microsoft.Storage/storageAccounts/queueServices/queues/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/write",
        ],
        data_actions=[
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action",
        ],
    ),
    _role(
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
        "Storage Table Data Contributor",
        "Allows for read, write and delete access to Azure Storage tables and entities.",
        [
            "Microsoft.Storage/storageAccounts/tableServices/tables/read",
            "Microsoft.Storage/storageAccounts/tableServices/tables/write",
            "Microsoft.Storage/storageAccounts/tableServices/tables/delete",
        ],
        data_actions=[
            "Microsoft.Storage/storageAccounts/tableServices/tables/entities/read",
            "Microsoft.Storage/storageAccounts/tableServices/tables/entities/write",
            "Microsoft.Storage/storageAccounts/tableServices/tables/entities/delete",
            "Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action",
            "Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action",
        ],
    ),
    _role(
        "17d1049b-9a84-46fb-8f53-869881c3d3ab",
        "Storage Account Contributor",
        "Permits management of storage accounts. Provides access to the account key, which "
        "can be used to access data via Shared Key authorization.",
        [
            *_MGMT_COMMON,
            "Microsoft.Insights/diagnosticSettings/*",
            "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
            "Microsoft.Storage/storageAccounts/*",
        ],
    ),
    _role(
        "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        "AcrPull",
        "acr pull",
        ["Microsoft.ContainerRegistry/registries/pull/read"],
    ),
    _role(
        "8311e382-0749-4cb8-b61a-304f252e45ec",
        "AcrPush",
        "acr push",
        [
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/push/write",
        ],
    ),
    _role(
        "fbdf93bf-df7d-467e-a4d2-9458aa1360c8",
        "Cosmos DB Account Reader Role",
        "Can read Azure Cosmos DB account data.",
        [
            *_MGMT_COMMON,
            "Microsoft.DocumentDB/*/read",
            "Microsoft.DocumentDB/databaseAccounts/readonlykeys/action",
        ],
    ),
    _role(
        "7efff54f-a5b4-42b5-a1c5-5411624893ce",
        "Disk Snapshot Contributor",
        "Provides permission to backup vault to manage disk snapshots.",
        [
            *_MGMT_COMMON,
            "Microsoft.Compute/disks/read",
            "Microsoft.Compute/disks/beginGetAccess/action",
            "Microsoft.Compute/snapshots/*",
        ],
    ),
    _role(
        "9b7fa17d-e63e-47b0-bb0a-15c516ac86ec",
        "SQL DB Contributor",
        "Lets you manage SQL databases, but not access to them.",
        [*_MGMT_COMMON, "Microsoft.Sql/servers/read", "Microsoft.Sql/servers/databases/*"],
    ),
    _role(
        "de139f84-1756-47ae-9be6-808fbbe84772",
        "Website Contributor",
        "Lets you manage websites (not web plans), but not access to them.",
        [*_MGMT_COMMON, "Microsoft.Web/sites/*", "Microsoft.Web/serverFarms/join/action"],
    ),
    _role(
        "312a565d-c81f-4fd8-895a-4e21e48d571c",
        "API Management Service Contributor",
        "Can manage service and the APIs",
        [*_MGMT_COMMON, "Microsoft.ApiManagement/service/*"],
    ),
    _role(
        "5bd9cd88-fe45-4216-938b-f97437e15450",
        "DocumentDB Account Contributor",
        "Lets you manage DocumentDB accounts, but not access to them.",
        [
            *_MGMT_COMMON,
            "Microsoft.DocumentDb/databaseAccounts/*",
            "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
        ],
        [
            "Microsoft.DocumentDB/databaseAccounts/dataTransferJobs/*",
            "Microsoft.DocumentDB/databaseAccounts/readonlyKeys/*",
            "Microsoft.DocumentDB/databaseAccounts/regenerateKey/*",
            "Microsoft.DocumentDB/databaseAccounts/listKeys/*",
            "Microsoft.DocumentDB/databaseAccounts/listConnectionStrings/*",
            "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions/write",
            "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions/delete",
            "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments/write",
            "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments/delete",
        ],
    ),
]

COSMOS_SQL_ROLES: list[dict[str, Any]] = [
    # Cosmos DB's own data-plane RBAC (sqlRoleDefinitions), not an ARM role definition:
    # every account has these two (``emulator/cosmos/rbac.py``).
    {
        "id": "00000000-0000-0000-0000-000000000001",
        "roleName": "Cosmos DB Built-in Data Reader",
        "type": "BuiltInRole",
        "permissions": [
            {
                "dataActions": [
                    "Microsoft.DocumentDB/databaseAccounts/readMetadata",
                    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery",
                    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/readChangeFeed",
                    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/read",
                ]
            }
        ],
    },
    {
        "id": "00000000-0000-0000-0000-000000000002",
        "roleName": "Cosmos DB Built-in Data Contributor",
        "type": "BuiltInRole",
        "permissions": [
            {
                "dataActions": [
                    "Microsoft.DocumentDB/databaseAccounts/readMetadata",
                    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/*",
                    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/*",
                ]
            }
        ],
    },
]

ROLE_IDS_BY_NAME: dict[str, str] = {role["roleName"]: role["id"] for role in BUILTIN_ROLES}
ROLES_BY_ID: dict[str, dict[str, Any]] = {role["id"]: role for role in BUILTIN_ROLES}
