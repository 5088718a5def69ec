from __future__ import annotations

import json
from pathlib import Path

import pytest
from atg_dataplane.config import ConfigError
from atg_dataplane.neo4j_inventory import resource_from_record
from atg_dataplane.terraform_state import read_state, renamed, target_ids

VAULT = "/subscriptions/s1/resourceGroups/rg-copy/providers/Microsoft.KeyVault/vaults/kv-copy"


def _state(tmp_path: Path, data: object) -> Path:
    (tmp_path / "terraform.tfstate").write_text(json.dumps(data))
    return tmp_path


def test_target_ids_and_renames_come_from_the_state(tmp_path: Path) -> None:
    state = read_state(
        _state(
            tmp_path,
            {
                "version": 4,
                "resources": [
                    {
                        "mode": "managed",
                        "type": "azurerm_key_vault",
                        "instances": [
                            {
                                "attributes": {
                                    "id": VAULT,
                                    "name": "kv-copy",
                                    "tags": {"atg:source-name": "kv-prod"},
                                }
                            }
                        ],
                    },
                    {
                        "mode": "managed",
                        "type": "random_string",
                        "instances": [{"attributes": {"id": "abc123", "result": "x"}}],
                    },
                    {
                        "mode": "data",
                        "type": "azurerm_client_config",
                        "instances": [{"attributes": {"id": VAULT.replace("kv-copy", "ignored")}}],
                    },
                ],
            },
        )
    )
    assert target_ids(state) == {"microsoft.keyvault/vaults/kv-copy": VAULT}
    assert renamed(state) == {"kv-prod": "kv-copy"}


def test_no_state_is_not_an_error_but_a_bad_one_is(tmp_path: Path) -> None:
    assert read_state(tmp_path) == {}
    with pytest.raises(ConfigError, match="not a directory"):
        read_state(tmp_path / "missing")
    (tmp_path / "terraform.tfstate").write_text("{oops")
    with pytest.raises(ConfigError, match="cannot read"):
        read_state(tmp_path)


def test_graph_records_become_arm_resources() -> None:
    record = {
        "id": VAULT,
        "type": "Microsoft.KeyVault/vaults",
        "name": "kv-copy",
        "location": "westeurope",
        "tags": None,
        "properties": json.dumps({"vaultUri": "https://kv-copy.vault.azure.net/"}),
    }
    resource = resource_from_record(record)
    assert resource["properties"]["vaultUri"].startswith("https://kv-copy")
    assert resource["tags"] == {}
    with pytest.raises(ConfigError, match="not JSON"):
        resource_from_record({**record, "properties": "{nope"})


def test_neo4j_needs_a_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("neo4j")
    from atg_dataplane.neo4j_inventory import read_neo4j_inventory

    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="NEO4J_PASSWORD"):
        list(read_neo4j_inventory("neo4j://neo4j@127.0.0.1:1", "s1"))


def test_an_unreachable_graph_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("neo4j")
    from atg_dataplane.neo4j_inventory import read_neo4j_inventory

    monkeypatch.setenv("NEO4J_PASSWORD", "pw")
    with pytest.raises(ConfigError, match=r"cannot reach Neo4j at neo4j://127\.0\.0\.1:1"):
        list(read_neo4j_inventory("neo4j://neo4j@127.0.0.1:1", "s1"))
