"""The sandbox's two tenants: ids, subscriptions, principals and their role assignments.

``topology.json`` holds every id; client secrets live beside it in ``secrets/<client_id>``
(mode 0600) and never in the JSON. Re-running :func:`ensure_topology` keeps every id.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from atg_dataplane_sandbox.builtin_roles import (
    BUILTIN_ROLES,
    COSMOS_SQL_ROLES,
    ROLE_IDS_BY_NAME,
)

TOPOLOGY_FILE = "topology.json"
SECRETS_DIR = "secrets"
LOCATION = "eastus"
TENANT_NAMES = ("source", "target")

# Principal name -> built-in roles it holds on its tenant's subscription, per tenant.
# "replicator": what replication needs (read everything on the source, write on the target).
# "limited": lacks Key Vault getSecret on the source and every write on the target.
# "expired": its client secret has expired (AADSTS7000222).
# "admin": Owner + Key Vault Administrator, for seeding.
_GRANTS: dict[str, dict[str, list[str]]] = {
    "source": {
        "admin": [
            "Owner",
            "Key Vault Administrator",
            "Storage Blob Data Contributor",
            "Storage Queue Data Contributor",
            "Storage Table Data Contributor",
            "AcrPush",
        ],
        "replicator": [
            "Reader",
            "Key Vault Administrator",
            "Storage Account Contributor",
            "Storage Blob Data Reader",
            "Storage Queue Data Contributor",
            "Storage Table Data Contributor",
            "AcrPull",
            "DocumentDB Account Contributor",
            "API Management Service Contributor",
            "Website Contributor",
            "Disk Snapshot Contributor",
            "SQL DB Contributor",
        ],
        "limited": ["Reader", "Key Vault Reader"],
        "expired": ["Reader"],
    },
    "target": {
        "admin": [
            "Owner",
            "Key Vault Administrator",
            "Storage Blob Data Contributor",
            "Storage Queue Data Contributor",
            "Storage Table Data Contributor",
            "AcrPush",
        ],
        "replicator": [
            "Contributor",
            "Key Vault Administrator",
            "Storage Blob Data Contributor",
            "Storage Queue Data Contributor",
            "Storage Table Data Contributor",
            "AcrPush",
        ],
        "limited": ["Reader"],
        "expired": ["Reader"],
    },
}


@dataclass(frozen=True)
class Principal:
    name: str
    """Role of this principal in the sandbox: admin, replicator, limited, expired."""
    tenant: str
    """``source`` or ``target``."""
    tenant_id: str
    client_id: str
    object_id: str
    display_name: str
    secret_file: str
    """Path of the client secret file, relative to the sandbox directory."""
    secret_expires_on: int
    """Unix time after which the token endpoint refuses the secret (AADSTS7000222)."""


@dataclass(frozen=True)
class RoleAssignment:
    id: str
    """Full ARM id: ``{scope}/providers/Microsoft.Authorization/roleAssignments/{name}``."""
    name: str
    scope: str
    role_definition_id: str
    """The role definition's GUID (see :data:`emulator.builtin_roles.BUILTIN_ROLES`)."""
    principal_id: str
    tenant: str


@dataclass(frozen=True)
class Tenant:
    name: str
    tenant_id: str
    subscription_id: str
    subscription_name: str
    location: str
    principals: dict[str, Principal]


@dataclass(frozen=True)
class Topology:
    directory: Path
    tenants: dict[str, Tenant]
    role_assignments: list[RoleAssignment] = field(default_factory=list)

    def tenant(self, name: str) -> Tenant:
        return self.tenants[name]

    def principal(self, tenant: str, name: str) -> Principal:
        return self.tenants[tenant].principals[name]

    def all_principals(self) -> list[Principal]:
        return [p for t in self.tenants.values() for p in t.principals.values()]

    def client_secret(self, principal: Principal) -> str:
        """Read a principal's client secret from its 0600 file (never stored in the JSON)."""
        return (self.directory / principal.secret_file).read_text().strip()

    def tenant_by_id(self, tenant_id: str) -> Tenant | None:
        return next((t for t in self.tenants.values() if t.tenant_id == tenant_id), None)

    def principal_by_client_id(self, client_id: str) -> Principal | None:
        return next((p for p in self.all_principals() if p.client_id == client_id), None)


def load_topology(directory: str | os.PathLike[str]) -> Topology:
    base = Path(directory)
    raw = json.loads((base / TOPOLOGY_FILE).read_text())
    tenants = {
        name: Tenant(
            name=name,
            tenant_id=t["tenant_id"],
            subscription_id=t["subscription_id"],
            subscription_name=t["subscription_name"],
            location=t.get("location", LOCATION),
            principals={pn: Principal(**p) for pn, p in t["principals"].items()},
        )
        for name, t in raw["tenants"].items()
    }
    assignments = [RoleAssignment(**a) for a in raw.get("role_assignments", [])]
    return Topology(directory=base, tenants=tenants, role_assignments=assignments)


def ensure_topology(directory: str | os.PathLike[str]) -> Topology:
    """Create ``topology.json`` and the secret files unless present; return the topology."""
    base = Path(directory)
    path = base / TOPOLOGY_FILE
    if path.exists():
        topology = load_topology(base)
        _ensure_secret_files(topology)
        return topology
    base.mkdir(parents=True, exist_ok=True)
    topology = _new_topology(base)
    _ensure_secret_files(topology)
    _write_json(path, _to_json(topology))
    return topology


def _new_topology(base: Path) -> Topology:
    now = int(time.time())
    tenants: dict[str, Tenant] = {}
    assignments: list[RoleAssignment] = []
    for tenant_name in TENANT_NAMES:
        tenant_id, subscription_id = str(uuid.uuid4()), str(uuid.uuid4())
        principals: dict[str, Principal] = {}
        for principal_name, roles in _GRANTS[tenant_name].items():
            client_id = str(uuid.uuid4())
            principal = Principal(
                name=principal_name,
                tenant=tenant_name,
                tenant_id=tenant_id,
                client_id=client_id,
                object_id=str(uuid.uuid4()),
                display_name=f"sandbox-{tenant_name}-{principal_name}",
                secret_file=f"{SECRETS_DIR}/{client_id}",
                secret_expires_on=now - 86400
                if principal_name == "expired"
                else now + 10 * 365 * 86400,
            )
            principals[principal_name] = principal
            scope = f"/subscriptions/{subscription_id}"
            for role in roles:
                name = str(uuid.uuid4())
                assignments.append(
                    RoleAssignment(
                        id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
                        name=name,
                        scope=scope,
                        role_definition_id=ROLE_IDS_BY_NAME[role],
                        principal_id=principal.object_id,
                        tenant=tenant_name,
                    )
                )
        tenants[tenant_name] = Tenant(
            name=tenant_name,
            tenant_id=tenant_id,
            subscription_id=subscription_id,
            subscription_name=f"sandbox-{tenant_name}",
            location=LOCATION,
            principals=principals,
        )
    return Topology(directory=base, tenants=tenants, role_assignments=assignments)


def _ensure_secret_files(topology: Topology) -> None:
    for principal in topology.all_principals():
        path = topology.directory / principal.secret_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(30))


def _to_json(topology: Topology) -> dict[str, Any]:
    return {
        "version": 1,
        "tenants": {
            name: {
                "tenant_id": t.tenant_id,
                "subscription_id": t.subscription_id,
                "subscription_name": t.subscription_name,
                "location": t.location,
                "principals": {pn: asdict(p) for pn, p in t.principals.items()},
            }
            for name, t in topology.tenants.items()
        },
        "role_assignments": [asdict(a) for a in topology.role_assignments],
        "role_definitions": BUILTIN_ROLES,
        "cosmos_sql_role_definitions": COSMOS_SQL_ROLES,
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
