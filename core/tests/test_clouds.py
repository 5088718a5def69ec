"""Cloud resolution: public by default, sovereign by name or alias, custom from config."""

from __future__ import annotations

from pathlib import Path

import pytest
from atg_dataplane.clouds import (
    AZURE_CHINA,
    AZURE_PUBLIC,
    AZURE_US_GOVERNMENT,
    Cloud,
    cloud_from_mapping,
    resolve_cloud,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, AZURE_PUBLIC),
        ("", AZURE_PUBLIC),
        ("AzurePublicCloud", AZURE_PUBLIC),
        ("azurepubliccloud", AZURE_PUBLIC),
        ("public", AZURE_PUBLIC),
        ("AzureCloud", AZURE_PUBLIC),
        ("AzureUSGovernment", AZURE_US_GOVERNMENT),
        ("usgov", AZURE_US_GOVERNMENT),
        ("AzureChinaCloud", AZURE_CHINA),
        ("China", AZURE_CHINA),
    ],
)
def test_known_clouds_and_aliases(name: str | None, expected: Cloud) -> None:
    assert resolve_cloud(name) is expected


def test_known_clouds_have_consistent_endpoints() -> None:
    for cloud in (AZURE_PUBLIC, AZURE_US_GOVERNMENT, AZURE_CHINA):
        assert cloud.arm_scope == cloud.resource_manager + "/.default"
        assert set(cloud.suffixes) >= {"keyvault", "storage", "acr", "cosmos"}
        with pytest.raises(TypeError):
            cloud.suffixes["keyvault"] = "x"  # type: ignore[index]


def test_unknown_cloud_error_lists_the_choices() -> None:
    with pytest.raises(ValueError) as info:
        resolve_cloud("Mars", custom={"lab": {}})
    message = str(info.value)
    assert "unknown cloud 'Mars'" in message
    for known in ("AzurePublicCloud", "AzureUSGovernment", "AzureChinaCloud", "lab"):
        assert known in message
    assert "[clouds.Mars]" in message


def test_custom_cloud_from_config(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("pem")
    custom = {
        "Sandbox": {
            "authority_host": "https://login.sandbox.local/",
            "resource_manager": "https://management.sandbox.local/",
            "ca_bundle": "ca.pem",
            "suffixes": {"keyvault": "vault.sandbox.local"},
        }
    }
    cloud = resolve_cloud("sandbox", custom=custom, base_dir=tmp_path)
    assert cloud.name == "Sandbox"
    assert cloud.authority_host == "https://login.sandbox.local"
    assert cloud.resource_manager == "https://management.sandbox.local"
    assert cloud.arm_scope == "https://management.sandbox.local/.default"
    assert cloud.ca_bundle == str(tmp_path / "ca.pem")
    assert cloud.suffixes["keyvault"] == "vault.sandbox.local"
    assert cloud.suffixes["storage"] == AZURE_PUBLIC.suffixes["storage"]


def test_custom_cloud_can_shadow_and_extend_a_known_one() -> None:
    cloud = cloud_from_mapping(
        "gov-lab",
        {
            "authority_host": "https://login.lab",
            "resource_manager": "https://arm.lab",
            "arm_scope": "https://arm.lab/custom/.default",
            "based_on": "AzureUSGovernment",
        },
    )
    assert cloud.arm_scope == "https://arm.lab/custom/.default"
    assert cloud.suffixes["acr"] == "azurecr.us"
    assert cloud.ca_bundle is None


def test_custom_cloud_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lacks 'resource_manager'"):
        cloud_from_mapping("x", {"authority_host": "https://login"})
    with pytest.raises(ValueError, match="does not exist"):
        cloud_from_mapping(
            "x",
            {"authority_host": "https://a", "resource_manager": "https://b", "ca_bundle": "no.pem"},
            base_dir=tmp_path,
        )
    with pytest.raises(ValueError, match="https:// URL"):
        cloud_from_mapping("x", {"authority_host": "http://a", "resource_manager": "https://b"})


def test_ca_bundle_absolute_path(tmp_path: Path) -> None:
    bundle = tmp_path / "abs.pem"
    bundle.write_text("pem")
    cloud = cloud_from_mapping(
        "x",
        {"authority_host": "https://a", "resource_manager": "https://b", "ca_bundle": str(bundle)},
        base_dir=Path("/elsewhere"),
    )
    assert cloud.ca_bundle == str(bundle)
