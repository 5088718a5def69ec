"""``sandbox down`` then ``sandbox up`` on the same folder keeps the tenants' data: a
replicated sandbox verifies to the same figures after the restart, without a new seed
(issue 15, acceptance 5). Azurite, the registry and our emulator's store persist on disk;
the Cosmos DB server saves its state when it stops and loads it when it starts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import Cli, seeded_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_sandbox(tmp_path_factory.mktemp("e2e-restart")) as found:
        yield found


def _figures(verify: dict[str, Any]) -> dict[str, Any]:
    return {
        "fidelity": verify["fidelity"],
        "by_type": {
            kind: (found["fidelity"], found["by_kind"]) for kind, found in verify["by_type"].items()
        },
    }


def test_down_then_up_verifies_to_the_same_figures(world: dict[str, Any]) -> None:
    from atg_dataplane_sandbox import sandbox as sbx

    cli = Cli(cwd=world["dir"])
    config = world["config"]
    cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    before = cli("verify", "--config", config, "--mode", "replication", "-o", "json").json()
    assert before["fidelity"] == 100.0, before["items"]
    cosmos = before["by_type"]["Microsoft.DocumentDB/databaseAccounts"]["by_kind"]
    assert cosmos.get("container", {}).get("matching", 0) > 0  # documents were compared

    sbx.down(world["dir"])
    saved = [
        *world["dir"].glob("cosmos/state/*.json"),
        world["dir"] / "emulator-state/files.pickle",
    ]
    assert len(saved) > 1 and all(path.stat().st_mode & 0o777 == 0o600 for path in saved)
    sbx.up(world["dir"])
    after = cli("verify", "--config", config, "--mode", "replication", "-o", "json").json()
    assert _figures(after) == _figures(before)
    again = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert again.summary()["replicated"] == 0  # nothing was lost, so nothing to copy again
