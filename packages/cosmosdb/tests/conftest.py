"""Fixtures: the sandbox's two tenants and the second pair of Cosmos DB accounts (a real
Cosmos DB server behind the emulator's authenticating proxies, structure through ARM),
reached through azure-cosmos and azure-mgmt-cosmosdb with the sandbox's principals. No
client is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from atg_dataplane import Fingerprinter
from cosmosdb_testing import CosmosWorld

try:  # the sandbox's pytest plugin provides ``sandbox``; without it these tests skip
    import atg_dataplane_sandbox  # noqa: F401
except ImportError:

    @pytest.fixture(scope="session")
    def sandbox() -> Any:
        pytest.skip("atg-dataplane-sandbox is not installed")


@pytest.fixture(scope="session")
def world(sandbox: Any) -> CosmosWorld:
    return CosmosWorld(sandbox=sandbox)


@pytest.fixture
def accounts(world: CosmosWorld) -> Iterator[CosmosWorld]:
    """The account pair, emptied of every database before and after the test."""
    world.empty()
    yield world
    world.empty()


@pytest.fixture
def fingerprinter() -> Fingerprinter:
    return Fingerprinter()
