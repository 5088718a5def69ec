"""Fixtures: the sandbox's two tenants and their SQL servers, reached through
azure-mgmt-sql and azure-storage-blob with the sandbox's principals. No client is mocked."""

from __future__ import annotations

from typing import Any

import pytest

try:  # the sandbox's pytest plugin provides ``sandbox``; without it these tests skip
    import atg_dataplane_sandbox  # noqa: F401
except ImportError:

    @pytest.fixture(scope="session")
    def sandbox() -> Any:
        pytest.skip("atg-dataplane-sandbox is not installed")
