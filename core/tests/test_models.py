"""The frozen value types plugins and the core exchange."""

from __future__ import annotations

import dataclasses

import pytest
from atg_dataplane.models import (
    ALL_MODES,
    AzureResource,
    DataPlaneItem,
    ItemError,
    ItemOutcome,
    Permission,
    ProgressEvent,
    ReplicationMode,
    ReplicationResult,
    ResourceTypeSpec,
    parse_resource_id,
)

SUB = "00000000-0000-0000-0000-000000000001"
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-1/providers/Microsoft.KeyVault/vaults/kv1"


# ------------------------------------------------------------------- ReplicationMode


def test_modes_are_strings_with_template_the_safe_default_first() -> None:
    assert ALL_MODES == (ReplicationMode.TEMPLATE, ReplicationMode.REPLICATION)
    assert str(ReplicationMode.TEMPLATE) == "template"
    assert ReplicationMode("replication") is ReplicationMode.REPLICATION
    assert ReplicationMode.TEMPLATE == "template"


# ------------------------------------------------------------------ ResourceTypeSpec


def test_resource_type_spec_normalises_its_fields() -> None:
    spec = ResourceTypeSpec(
        resource_type="Microsoft.KeyVault/vaults",
        item_kinds=["secret", "key"],  # type: ignore[arg-type]
        modes=["template"],  # type: ignore[list-item]
        max_concurrency_per_resource=4,
    )
    assert spec.item_kinds == ("secret", "key")
    assert spec.modes == (ReplicationMode.TEMPLATE,)
    assert spec.key == "microsoft.keyvault/vaults"
    assert ResourceTypeSpec("A.B/c", ("x",)).modes == ALL_MODES
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.resource_type = "other/type"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resource_type": "vaults", "item_kinds": ("s",)}, "not an ARM type"),
        ({"resource_type": "A.B/c", "item_kinds": ()}, "at least one kind"),
        ({"resource_type": "A.B/c", "item_kinds": ("s",), "modes": ()}, "at least one mode"),
        (
            {"resource_type": "A.B/c", "item_kinds": ("s",), "max_concurrency_per_resource": 0},
            ">= 1",
        ),
    ],
)
def test_resource_type_spec_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResourceTypeSpec(**kwargs)


def test_resource_type_spec_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError):
        ResourceTypeSpec("A.B/c", ("s",), modes=("everything",))  # type: ignore[arg-type]


# ------------------------------------------------------------------------ Permission


def test_permission_freezes_its_collections() -> None:
    perm = Permission(
        scope="resource",
        actions=["a/read"],  # type: ignore[arg-type]
        data_actions=["a/data/read"],  # type: ignore[arg-type]
        side="target",
        access_policy={"secrets": ["get", "list"]},  # type: ignore[dict-item]
    )
    assert perm.actions == ("a/read",)
    assert perm.not_actions == ()
    assert perm.data_actions == ("a/data/read",)
    assert perm.access_policy["secrets"] == ("get", "list")
    with pytest.raises(TypeError):
        perm.access_policy["keys"] = ("get",)  # type: ignore[index]
    assert Permission(scope="resource", actions=("x",)) == Permission(
        scope="resource", actions=("x",)
    )


def test_frozen_descriptors_are_hashable() -> None:
    perms = {Permission(scope="resource", actions=("x",)) for _ in range(2)}
    assert len(perms) == 1
    assert len({DataPlaneItem(name="n", kind="k", source_resource_id="r")}) == 1


def test_permission_side_must_be_source_or_target() -> None:
    with pytest.raises(ValueError, match="'source' or 'target'"):
        Permission(scope="resource", side="both")  # type: ignore[arg-type]


# ------------------------------------------------------------------ parse_resource_id


def test_parse_resource_id_top_level() -> None:
    parts = parse_resource_id(VAULT_ID)
    assert parts == {
        "subscription": SUB,
        "group": "rg-1",
        "namespace": "Microsoft.KeyVault",
        "type": "Microsoft.KeyVault/vaults",
        "name": "kv1",
    }


def test_parse_resource_id_nested_and_case_insensitive_prefix() -> None:
    rid = (
        f"/SUBSCRIPTIONS/{SUB}/resourcegroups/rg/providers/Microsoft.Storage/"
        "storageAccounts/sa1/blobServices/default/containers/c1"
    )
    parts = parse_resource_id(rid)
    assert parts["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers"
    assert parts["name"] == "c1"
    assert parts["group"] == "rg"


@pytest.mark.parametrize(
    "rid",
    [
        "",
        None,
        "not-an-id",
        f"/subscriptions/{SUB}/resourceGroups/rg",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/x",
    ],
)
def test_parse_resource_id_rejects_malformed_ids(rid: str) -> None:
    with pytest.raises(ValueError, match="malformed resource id"):
        parse_resource_id(rid)


def test_parse_resource_id_rejects_an_empty_name() -> None:
    with pytest.raises(ValueError):
        parse_resource_id(
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/"
        )


# ---------------------------------------------------------------------- AzureResource


def test_azure_resource_from_arm() -> None:
    res = AzureResource.from_arm(
        {
            "id": VAULT_ID,
            "type": "Microsoft.KeyVault/vaults",
            "name": "kv1",
            "location": "westeurope",
            "properties": {"enableRbacAuthorization": True},
            "tags": None,
        }
    )
    assert res.subscription_id == SUB
    assert res.resource_group == "rg-1"
    assert res.location == "westeurope"
    assert res.tags == {}
    assert res.properties["enableRbacAuthorization"] is True
    with pytest.raises(TypeError):
        res.properties["x"] = 1  # type: ignore[index]
    minimal = AzureResource.from_arm({"id": VAULT_ID, "type": "t/t", "name": "kv1"})
    assert minimal.location == "" and minimal.properties == {}


def test_azure_resource_from_arm_errors() -> None:
    with pytest.raises(ValueError, match="lacks the 'type' field"):
        AzureResource.from_arm({"id": VAULT_ID, "name": "kv1"})
    with pytest.raises(ValueError, match="malformed resource id"):
        AzureResource.from_arm({"id": "/nope", "type": "t/t", "name": "n"})


# ---------------------------------------------------------------------- DataPlaneItem


def test_item_key_is_kind_name_and_version() -> None:
    item = DataPlaneItem(name="db-password", kind="secret", source_resource_id=VAULT_ID)
    assert item.key == "secret:db-password"
    versioned = DataPlaneItem(
        name="db-password", kind="secret", source_resource_id=VAULT_ID, version="abc123"
    )
    assert versioned.key == "secret:db-password@abc123"
    assert item.key != versioned.key
    assert item.copyable and item.size_bytes == 0 and item.fingerprint is None


def test_item_properties_are_frozen_and_fields_validated() -> None:
    item = DataPlaneItem(name="n", kind="k", source_resource_id="r", properties={"a": 1})
    with pytest.raises(TypeError):
        item.properties["a"] = 2  # type: ignore[index]
    with pytest.raises(ValueError, match="name must not be empty"):
        DataPlaneItem(name="", kind="k", source_resource_id="r")
    with pytest.raises(ValueError, match="size_bytes"):
        DataPlaneItem(name="n", kind="k", source_resource_id="r", size_bytes=-1)


# ------------------------------------------------------------- outcomes and errors


def test_item_outcome_and_error() -> None:
    outcome = ItemOutcome(warnings=["w1"])  # type: ignore[arg-type]
    assert outcome.status == "replicated"
    assert outcome.warnings == ("w1",)
    err = ItemError("key is not exportable", remedy="recreate it in the target")
    assert str(err) == "key is not exportable (recreate it in the target)"
    assert err.reason == "key is not exportable"
    assert str(ItemError("plain")) == "plain"
    assert isinstance(err, Exception)


def test_replication_result_to_dict() -> None:
    result = ReplicationResult(discovered=3, replicated=2, failed=1, bytes=10, duration=1.23456)
    result.errors.append("boom")
    data = result.to_dict()
    assert data == {
        "discovered": 3,
        "replicated": 2,
        "skipped": 0,
        "failed": 1,
        "errors": ["boom"],
        "warnings": [],
        "bytes": 10,
        "duration": 1.235,
        "success": False,
    }
    data["errors"].append("not shared")
    assert result.errors == ["boom"]
    assert ReplicationResult().success


# ---------------------------------------------------------------------- ProgressEvent


def test_progress_event_to_dict_omits_empty_fields() -> None:
    event = ProgressEvent(type="run_started", timestamp=1700000000.123456)
    assert event.to_dict() == {"event": "run_started", "timestamp": 1700000000.123}


def test_progress_event_to_dict_full() -> None:
    result = ReplicationResult(discovered=1, replicated=1)
    event = ProgressEvent(
        type="item_done",
        run_id="run-1",
        mode=ReplicationMode.REPLICATION,
        resource_id=VAULT_ID,
        resource_type="Microsoft.KeyVault/vaults",
        item_kind="secret",
        item_name="s1",
        items=1,
        bytes=42,
        reason="",
        result=result,
        timestamp=5.0,
    )
    data = event.to_dict()
    assert data["event"] == "item_done"
    assert data["mode"] == "replication"
    assert data["run_id"] == "run-1"
    assert data["bytes"] == 42
    assert "reason" not in data
    assert data["result"] == result.to_dict()
    assert data["timestamp"] == 5.0


def test_progress_event_has_a_current_timestamp() -> None:
    import time

    before = time.time()
    assert ProgressEvent(type="run_finished").timestamp >= before


def test_item_kinds_given_as_a_bare_string_is_refused() -> None:
    with pytest.raises((TypeError, ValueError)):
        ResourceTypeSpec(resource_type="A.B/c", item_kinds="secret")  # type: ignore[arg-type]
