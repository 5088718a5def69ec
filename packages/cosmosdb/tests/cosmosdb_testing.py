"""Helpers for the Cosmos DB tests: the second account pair of the sandbox (``srccosmos2``
and ``tgtcosmos2``), seeded with the sandbox's own seeder, read as the engine reads them,
and the engine run on the pair. Everything goes through the official SDKs; no client is
mocked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atg_dataplane import ReplicationMode, ResourceBinding
from atg_dataplane.testing import PairRun

SOURCE, TARGET = "srccosmos2", "tgtcosmos2"
GROUPS = {"source": "rg-source-data", "target": "rg-target-data"}
REPLICATION = ReplicationMode.REPLICATION
TEMPLATE = ReplicationMode.TEMPLATE


@dataclass
class CosmosWorld:
    sandbox: Any
    """The ``sandbox`` fixture (credentials, contexts and ARM kwargs of its principals)."""

    def seed(self, contents: Any) -> dict[str, int]:
        """Put ``contents`` (``scenarios.CosmosContents``) into the source account, as the
        sandbox's seeder does (structure through ARM, documents in batches)."""
        from atg_dataplane_sandbox import seed
        from atg_dataplane_sandbox.scenarios import ResourceSpec
        from atg_dataplane_sandbox.seeders import cosmos

        ctx = seed.context(self.sandbox.dir)
        seed._ensure_resource_groups(ctx)
        return cosmos.seed(ctx, ResourceSpec("cosmos", SOURCE, TARGET, contents))

    def arm(self, side: str) -> Any:
        from azure.mgmt.cosmosdb import CosmosDBManagementClient

        subscription = self.sandbox.topology.tenant(side).subscription_id
        return CosmosDBManagementClient(
            self.sandbox.credential(side, "admin"), subscription, **self.sandbox.arm_kwargs()
        )

    def account(self, side: str) -> str:
        return SOURCE if side == "source" else TARGET

    def data(self, side: str) -> Any:
        """The account's data plane with its primary key (seeding, inspecting)."""
        from azure.cosmos import CosmosClient
        from azure.cosmos.documents import SSLConfiguration

        name, arm = self.account(side), self.arm(side)
        endpoint = arm.database_accounts.get(GROUPS[side], name).document_endpoint
        key = arm.database_accounts.list_keys(GROUPS[side], name).primary_master_key
        ssl = SSLConfiguration()
        ssl.SSLCaCerts = str(self.sandbox.ca_bundle)
        return CosmosClient(endpoint, credential=key, ssl_config=ssl)

    def container(self, side: str, db: str, coll: str) -> Any:
        return self.data(side).get_database_client(db).get_container_client(coll)

    def documents(self, side: str, db: str, coll: str) -> list[dict[str, Any]]:
        return list(self.container(side, db, coll).query_items(
            "SELECT * FROM c", enable_cross_partition_query=True))

    def empty(self) -> None:
        """Delete every database of both accounts (through ARM)."""
        for side in ("source", "target"):
            sql = self.arm(side).sql_resources
            try:
                names = [d.name for d in sql.list_sql_databases(GROUPS[side], self.account(side))]
            except Exception:  # the accounts do not exist yet: nothing to empty
                continue
            for name in names:
                sql.begin_delete_sql_database(
                    GROUPS[side], self.account(side), name, polling_interval=0.05).result()

    def grant(self, side: str, principal: str, role: str) -> str:
        """Assign an Azure built-in role on the side's account; return the assignment id."""
        import uuid

        from azure.mgmt.authorization import AuthorizationManagementClient

        topology = self.sandbox.topology
        subscription = topology.tenant(side).subscription_id
        scope = self.arm(side).database_accounts.get(GROUPS[side], self.account(side)).id
        auth = AuthorizationManagementClient(self.sandbox.credential(side, "admin"),
                                             subscription, **self.sandbox.arm_kwargs())
        [definition] = list(auth.role_definitions.list(scope, filter=f"roleName eq '{role}'"))
        made = auth.role_assignments.create(scope, str(uuid.uuid4()), {
            "role_definition_id": definition.id,
            "principal_id": topology.principal(side, principal).object_id,
        })
        return str(made.id)

    def revoke(self, side: str, assignment_id: str) -> None:
        from azure.mgmt.authorization import AuthorizationManagementClient

        subscription = self.sandbox.topology.tenant(side).subscription_id
        AuthorizationManagementClient(self.sandbox.credential(side, "admin"), subscription,
                                      **self.sandbox.arm_kwargs()).role_assignments.delete_by_id(
            assignment_id)

    def binding(self, side: str, principal: str = "replicator") -> ResourceBinding:
        """The account as the engine reads it (generic ARM read, properties included)."""
        from atg_dataplane.inventory import _get_full
        from atg_dataplane_cosmosdb.plugin import dataplane_resource_types

        created = self.arm(side).database_accounts.get(GROUPS[side], self.account(side))
        spec = dataplane_resource_types()[0]
        resource = _get_full(self.sandbox.context(side, "admin"), created.id, spec)
        return ResourceBinding(resource=resource, context=self.sandbox.context(side, principal))

    def run(self, folder: Any) -> PairRun:
        return PairRun("cosmosdb", self.binding("source"), self.binding("target"), folder)
