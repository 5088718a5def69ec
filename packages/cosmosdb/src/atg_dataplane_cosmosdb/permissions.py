"""What each side needs, per mode.

Structure is read and written through ARM (Azure RBAC: checked before the run). Documents
are read and written with the account's native RBAC (Cosmos DB Built-in Data Reader on the
source, Data Contributor on the target), which the ARM permission check cannot see: a
missing data role is reported by the copy, per container, with the command that grants it.
With ``cosmosdb.use_keys`` the keys come from ARM (``readonlykeys`` on the source,
``listKeys`` on the target) and no data role is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atg_dataplane import Permission, ReplicationMode
from atg_dataplane.models import Side

from atg_dataplane_cosmosdb.kinds import RESOURCE_TYPE


@dataclass(frozen=True)
class Options:
    """The plugin's options; ``use_keys`` decides what each side needs (a plain module:
    the permission check reads it without importing an SDK)."""

    use_keys: bool = False

    @classmethod
    def of(cls, options: Any) -> Options:
        return cls(use_keys=bool((options or {}).get("cosmosdb.use_keys", False)))


SQL = f"{RESOURCE_TYPE}/sqlDatabases"
CONTAINERS = f"{SQL}/containers"
READS = (
    f"{RESOURCE_TYPE}/read",
    f"{SQL}/read",
    f"{SQL}/throughputSettings/read",
    f"{CONTAINERS}/read",
    f"{CONTAINERS}/throughputSettings/read",
    f"{CONTAINERS}/storedProcedures/read",
    f"{CONTAINERS}/triggers/read",
    f"{CONTAINERS}/userDefinedFunctions/read",
)
WRITES = (
    f"{SQL}/write",
    f"{SQL}/throughputSettings/write",
    f"{CONTAINERS}/write",
    f"{CONTAINERS}/throughputSettings/write",
    f"{CONTAINERS}/storedProcedures/write",
    f"{CONTAINERS}/triggers/write",
    f"{CONTAINERS}/userDefinedFunctions/write",
)


def _perm(side: Side, description: str, role: str, *actions: str) -> Permission:
    return Permission(
        "resource",
        actions,
        side=side,
        resource_type=RESOURCE_TYPE,
        description=description,
        suggested_role=role,
    )


def permissions(mode: ReplicationMode, use_keys: bool = False) -> list[Permission]:
    reader, writer = "Cosmos DB Account Reader Role", "DocumentDB Account Contributor"
    needed = [
        _perm("source", "read databases, containers, throughput and scripts", reader, *READS),
        _perm("target", "create databases, containers, throughput and scripts", writer,
              *READS, *WRITES),
    ]
    if mode is ReplicationMode.REPLICATION and use_keys:
        # DocumentDB Account Contributor and Cosmos DB Operator exclude the keys.
        needed += [
            _perm("source", "read the account's read-only keys (cosmosdb.use_keys)", reader,
                  f"{RESOURCE_TYPE}/readonlykeys/action"),
            _perm("target", "read the account's keys (cosmosdb.use_keys)", "Contributor",
                  f"{RESOURCE_TYPE}/listKeys/action"),
        ]
    return needed
