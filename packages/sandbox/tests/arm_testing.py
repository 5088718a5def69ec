"""Helpers for the tests of the sandbox's ARM resource types."""

from __future__ import annotations

from typing import Any

from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential
from atg_dataplane_sandbox.topology import Topology
from azure.mgmt.resource.resources import ResourceManagementClient


def mgmt_client(
    emu: EmulatorHandle, topo: Topology, client_class: type, group: str, side: str = "source"
) -> Any:
    """An azure-mgmt-* client of ``side``'s subscription as its admin, with ``group`` made."""
    subscription = topo.tenant(side).subscription_id
    cred = credential(emu, side, "admin")
    groups = ResourceManagementClient(cred, subscription, **arm_kwargs(emu)).resource_groups
    groups.create_or_update(group, {"location": "eastus"})
    return client_class(cred, subscription, **arm_kwargs(emu))
