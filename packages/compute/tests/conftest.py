"""Fixtures: the sandbox's two tenants and their virtual machines, reached through
azure-mgmt-compute and the disks' access SAS with the sandbox's principals. No client is
mocked."""

from __future__ import annotations

from typing import Any

import pytest

try:  # the sandbox's pytest plugin provides ``sandbox``; without it these tests skip
    import atg_dataplane_sandbox  # noqa: F401
except ImportError:

    @pytest.fixture(scope="session")
    def sandbox() -> Any:
        pytest.skip("atg-dataplane-sandbox is not installed")


@pytest.fixture(scope="module")
def seeded(sandbox: Any) -> Any:
    """The reference scenario, seeded once per module."""
    sandbox.seed("reference")
    return sandbox
