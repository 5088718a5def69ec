"""pytest plugin (entry point ``pytest11: atg_dataplane_sandbox``): the ``sandbox`` fixture.

One sandbox per test session, in a temporary directory, or the directory named by
``ATG_DATAPLANE_SANDBOX_DIR`` (started if needed; left running if it already ran).
Tests are skipped when the emulators are not installed, unless
``ATG_DATAPLANE_REQUIRE_SANDBOX=1`` (CI), which turns that into a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DIR_ENV = "ATG_DATAPLANE_SANDBOX_DIR"
REQUIRE_ENV = "ATG_DATAPLANE_REQUIRE_SANDBOX"


@dataclass
class SandboxHandle:
    """What tests get from the ``sandbox`` fixture."""

    dir: Path
    config_path: Path
    ca_bundle: Path
    services: dict[str, str]
    """Flat name -> URL (``storage-blob``/``-queue``/``-table`` and ``cosmos/<account>``
    (Azurite and the Cosmos DB server behind the emulator's fault-injecting proxies; use
    these), ``azurite-blob`` and ``cosmos-server/<account>`` (the real emulators),
    ``registry``, ``arm``, ...). ``cosmos-server/*`` and ``registry`` refuse requests
    without the sandbox's upstream secret (``secrets/upstream/``): use the fronts."""
    topology: Any
    """:class:`atg_dataplane_sandbox.topology.Topology` (tenants, principals)."""
    services_json: dict[str, Any] = field(repr=False, default_factory=dict)
    emulator_json: dict[str, Any] = field(repr=False, default_factory=dict)
    _seeded: dict[tuple[str, int], Any] = field(repr=False, default_factory=dict)

    def seed(self, scenario: str = "reference", scale: int = 1) -> Any:
        """Seed ``scenario`` once per session (later calls return the first report)."""
        from atg_dataplane_sandbox import seed

        key = (scenario, scale)
        if key not in self._seeded:
            self._seeded[key] = seed.seed(self.dir, scenario, scale=scale)
            self.refresh()
        return self._seeded[key]

    def refresh(self) -> None:
        """Re-read the endpoints: vaults and registries get their listeners when created."""
        from atg_dataplane_sandbox import sandbox as sbx

        current = sbx.status(self.dir)
        self.services = current.services
        self.emulator_json = json.loads((self.dir / "emulator.json").read_text())

    def set_faults(self, spec: str) -> dict[str, Any]:
        """Replace the emulator's fault spec (e.g. ``"keyvault:429=0.2"``; ``""`` clears it)."""
        from atg_dataplane_sandbox import sandbox as sbx

        return sbx.set_faults(self.dir, spec)

    def client_secret(self, tenant: str, principal: str = "replicator") -> str:
        return str(self.topology.client_secret(self.topology.principal(tenant, principal)))

    @property
    def cloud(self) -> Any:
        """The sandbox's cloud (:class:`atg_dataplane.clouds.Cloud`), as its config names it."""
        from atg_dataplane.config import load_config

        return load_config(self.config_path).source.cloud

    def credential(self, side: str, principal: str = "replicator") -> Any:
        """A ``ClientSecretCredential`` of one sandbox principal, trusting the sandbox CA."""
        from azure.identity import ClientSecretCredential

        p = self.topology.principal(side, principal)
        return ClientSecretCredential(
            p.tenant_id,
            p.client_id,
            self.topology.client_secret(p),
            authority=self.cloud.authority_host,
            disable_instance_discovery=True,
            connection_verify=str(self.ca_bundle),
        )

    def context(self, side: str, principal: str = "replicator", concurrency: int = 8) -> Any:
        """The :class:`atg_dataplane.SideContext` the engine would build for ``side``."""
        from atg_dataplane import SideContext

        tenant = self.topology.tenant(side)
        config = json.loads(self.config_path.read_text())
        return SideContext(
            side=side,  # type: ignore[arg-type]
            tenant_id=tenant.tenant_id,
            subscription_id=tenant.subscription_id,
            credential=self.credential(side, principal),
            cloud=self.cloud,
            concurrency=concurrency,
            names=dict((config.get("mapping") or {}).get("names") or {}),
        )

    def mgmt(self, client_class: Any, side: str, principal: str = "admin") -> Any:
        """An ``azure.mgmt.*`` client of ``side``'s subscription, as ``principal``."""
        subscription = self.topology.tenant(side).subscription_id
        return client_class(self.credential(side, principal), subscription, **self.arm_kwargs())

    def binding(self, side: str, resource_id: str, spec: Any) -> Any:
        """The :class:`atg_dataplane.ResourceBinding` of a resource as the engine builds it
        (read in full as ``spec``'s plugin asks), acting as the replicator."""
        from atg_dataplane import ResourceBinding
        from atg_dataplane.inventory import _get_full

        resource = _get_full(self.context(side, "admin"), resource_id, spec)
        return ResourceBinding(resource=resource, context=self.context(side, "replicator"))

    def arm_kwargs(self) -> dict[str, Any]:
        """kwargs for any ``azure.mgmt.*`` client."""
        cloud = self.cloud
        return {
            "base_url": cloud.resource_manager,
            "credential_scopes": [cloud.arm_scope],
            "connection_verify": str(self.ca_bundle),
        }


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"sandbox required ({REQUIRE_ENV}=1) but {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def running_sandbox(directory: Path, *, keep_if_reused: bool = False) -> Iterator[SandboxHandle]:
    """Start (or reuse) a sandbox in ``directory`` and stop it afterwards."""
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import topology

    missing = sbx.check_installed()
    if missing:
        _unavailable("emulators not installed: " + "; ".join(str(m) for m in missing))
    info = sbx.up(directory)
    handle = SandboxHandle(
        dir=info.dir, config_path=info.config_path, ca_bundle=info.ca_bundle,
        services=info.services, topology=topology.load_topology(info.dir),
        services_json=info.services_json, emulator_json=info.emulator_json,
    )
    try:
        yield handle
    finally:
        if not (keep_if_reused and info.reused):
            sbx.down(info.dir)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A running two-tenant sandbox for the whole session (see module docstring)."""
    given = os.environ.get(DIR_ENV)
    directory = Path(given) if given else tmp_path_factory.mktemp("sandbox")
    with running_sandbox(directory, keep_if_reused=bool(given)) as handle:
        yield handle


@pytest.fixture(scope="module")
def private_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A sandbox of the test module's own, for tests that need untouched targets."""
    with running_sandbox(tmp_path_factory.mktemp("private-sandbox")) as handle:
        yield handle
