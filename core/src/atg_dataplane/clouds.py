"""Azure clouds: public by default, sovereign clouds by name, custom from config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Cloud:
    name: str
    authority_host: str
    resource_manager: str
    arm_scope: str
    ca_bundle: str | None = None
    """PEM bundle to trust for every endpoint of this cloud (custom clouds, the sandbox)."""
    suffixes: Mapping[str, str] = field(default_factory=dict)
    """Data-plane DNS suffixes, e.g. ``keyvault``, ``storage``, ``acr``, ``cosmos``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "suffixes", MappingProxyType(dict(self.suffixes)))
        for attr in ("authority_host", "resource_manager"):
            value = getattr(self, attr)
            if not value.startswith("https://"):
                raise ValueError(
                    f"cloud {self.name!r}: {attr} must be an https:// URL, not {value!r}"
                )
            object.__setattr__(self, attr, value.rstrip("/"))

    def __reduce__(self) -> tuple[Any, ...]:
        # A read-only view does not pickle; a cluster run sends the config to its workers.
        fields = (self.name, self.authority_host, self.resource_manager, self.arm_scope)
        return (type(self), (*fields, self.ca_bundle, dict(self.suffixes)))


AZURE_PUBLIC = Cloud(
    name="AzurePublicCloud",
    authority_host="https://login.microsoftonline.com",
    resource_manager="https://management.azure.com",
    arm_scope="https://management.azure.com/.default",
    suffixes={
        "keyvault": "vault.azure.net",
        "storage": "core.windows.net",
        "acr": "azurecr.io",
        "cosmos": "documents.azure.com",
    },
)
AZURE_US_GOVERNMENT = Cloud(
    name="AzureUSGovernment",
    authority_host="https://login.microsoftonline.us",
    resource_manager="https://management.usgovcloudapi.net",
    arm_scope="https://management.usgovcloudapi.net/.default",
    suffixes={
        "keyvault": "vault.usgovcloudapi.net",
        "storage": "core.usgovcloudapi.net",
        "acr": "azurecr.us",
        "cosmos": "documents.azure.us",
    },
)
AZURE_CHINA = Cloud(
    name="AzureChinaCloud",
    authority_host="https://login.chinacloudapi.cn",
    resource_manager="https://management.chinacloudapi.cn",
    arm_scope="https://management.chinacloudapi.cn/.default",
    suffixes={
        "keyvault": "vault.azure.cn",
        "storage": "core.chinacloudapi.cn",
        "acr": "azurecr.cn",
        "cosmos": "documents.azure.cn",
    },
)

KNOWN_CLOUDS = {c.name.lower(): c for c in (AZURE_PUBLIC, AZURE_US_GOVERNMENT, AZURE_CHINA)}
_ALIASES = {
    "public": "azurepubliccloud",
    "azurecloud": "azurepubliccloud",
    "usgov": "azureusgovernment",
    "china": "azurechinacloud",
}


def resolve_cloud(
    name: str | None,
    custom: Mapping[str, Mapping[str, Any]] | None = None,
    base_dir: Path | None = None,
) -> Cloud:
    """Find a cloud by name among the config's custom clouds, then the known ones."""
    name = name or AZURE_PUBLIC.name
    for custom_name, spec in (custom or {}).items():
        if custom_name.lower() == name.lower():
            return cloud_from_mapping(custom_name, spec, base_dir)
    key = _ALIASES.get(name.lower(), name.lower())
    if key in KNOWN_CLOUDS:
        return KNOWN_CLOUDS[key]
    known = ", ".join(sorted([c.name for c in KNOWN_CLOUDS.values()] + list(custom or {})))
    raise ValueError(
        f"unknown cloud {name!r}: use one of {known}, or define it under [clouds.{name}]"
    )


def cloud_from_mapping(name: str, spec: Mapping[str, Any], base_dir: Path | None = None) -> Cloud:
    try:
        authority = spec["authority_host"]
        arm = spec["resource_manager"]
    except KeyError as missing:
        raise ValueError(f"cloud {name!r} lacks {missing.args[0]!r}") from None
    ca_bundle = spec.get("ca_bundle")
    if ca_bundle:
        path = Path(ca_bundle).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ValueError(f"cloud {name!r}: ca_bundle {str(path)!r} does not exist")
        ca_bundle = str(path)
    base = KNOWN_CLOUDS.get(str(spec.get("based_on", "")).lower(), AZURE_PUBLIC)
    return replace(
        base,
        name=name,
        authority_host=authority,
        resource_manager=arm,
        arm_scope=spec.get("arm_scope") or arm.rstrip("/") + "/.default",
        ca_bundle=ca_bundle,
        suffixes={**base.suffixes, **dict(spec.get("suffixes") or {})},
    )
