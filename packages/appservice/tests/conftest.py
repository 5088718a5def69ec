"""Fixtures: the sandbox's two tenants and their web and function apps (the reference
scenario's), reached through azure-mgmt-web and Kudu with the sandbox's principals. No
client is mocked."""

from __future__ import annotations

from typing import Any

import pytest

try:  # the sandbox's pytest plugin provides ``sandbox``; without it these tests skip
    import atg_dataplane_sandbox  # noqa: F401
except ImportError:

    @pytest.fixture(scope="session")
    def sandbox() -> Any:
        pytest.skip("atg-dataplane-sandbox is not installed")
