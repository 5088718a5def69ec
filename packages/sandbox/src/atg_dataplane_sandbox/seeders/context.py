"""What every seeder needs: credentials per tenant, ARM client settings, the canary record."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.identity import ClientSecretCredential

from atg_dataplane_sandbox.services.layout import write_private

ARM_SCOPE = "https://management.azure.com/.default"
SEEDING_PRINCIPAL = "admin"
"""Owner + data roles on its tenant: the replicator is only a Reader on the source."""
CANARIES_FILE = "seeded-canaries.json"


@dataclass
class CanaryRecord:
    """Every secret value the seed wrote, so tests can scan logs and reports for leaks."""

    path: Path
    values: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def new(self) -> str:
        return "atgcanary-" + secrets.token_hex(12)

    def add(self, value: str) -> str:
        with self._lock:
            self.values.add(value)
        return value

    def save(self) -> None:
        with self._lock:
            existing: set[str] = set()
            if self.path.is_file():
                existing = set(json.loads(self.path.read_text()).get("values", []))
            merged = sorted(existing | self.values)
        write_private(self.path, json.dumps({"values": merged}, ensure_ascii=False, indent=1))


@dataclass
class SeedContext:
    directory: Path
    ca_bundle: str
    arm_url: str
    entra_url: str
    topology: Any
    resource_groups: dict[str, str]
    """Tenant (``source``/``target``) -> resource group the seed creates resources in."""
    canaries: CanaryRecord
    services: dict[str, Any] = field(default_factory=dict)
    """``services.json``: where the real emulators listen."""
    _credentials: dict[str, ClientSecretCredential] = field(default_factory=dict, repr=False)

    def tenant(self, side: str) -> Any:
        return self.topology.tenant(side)

    def credential(self, side: str) -> ClientSecretCredential:
        if side not in self._credentials:
            principal = self.topology.principal(side, SEEDING_PRINCIPAL)
            self._credentials[side] = ClientSecretCredential(
                principal.tenant_id, principal.client_id,
                self.topology.client_secret(principal),
                authority=self.entra_url, disable_instance_discovery=True,
                connection_verify=self.ca_bundle,
            )
        return self._credentials[side]

    def mgmt(self, client_class: type, side: str) -> Any:
        """An azure-mgmt-* client for ``side``'s subscription against the emulated ARM."""
        return client_class(
            self.credential(side), self.tenant(side).subscription_id,
            base_url=self.arm_url, credential_scopes=[ARM_SCOPE],
            connection_verify=self.ca_bundle,
        )

    def location(self, side: str) -> str:
        return str(self.tenant(side).location)
