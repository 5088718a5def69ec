"""Fixtures: the sandbox's two tenants and their registries (an ACR front with the token
exchange, listings, attributes, referrers and importImage over Debian's docker-registry),
reached through the official SDKs with the sandbox's principals. No client is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from atg_dataplane import Fingerprinter
from containerregistry_testing import RegistryWorld

try:  # the sandbox's pytest plugin provides ``sandbox``; without it these tests skip
    import atg_dataplane_sandbox  # noqa: F401
except ImportError:

    @pytest.fixture(scope="session")
    def sandbox() -> Any:
        pytest.skip("atg-dataplane-sandbox is not installed")


@pytest.fixture(scope="session")
def world(sandbox: Any) -> Iterator[RegistryWorld]:
    sandbox.seed("reference")
    yield RegistryWorld(sandbox=sandbox)


@pytest.fixture
def fingerprinter() -> Fingerprinter:
    return Fingerprinter()


