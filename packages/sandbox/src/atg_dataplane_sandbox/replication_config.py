"""The replication config (``config.json``) that points the core at the sandbox.

Format: CONTRACT.md, "Replication config". Paths are relative to the config's folder
(the sandbox directory), so the directory can be moved as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atg_dataplane_sandbox.services.accounts import TENANT_PREFIXES

if TYPE_CHECKING:
    from atg_dataplane_sandbox.topology import Topology

CLOUD_NAME = "sandbox"
ARM_SCOPE = "https://management.azure.com/.default"
SOURCE_RESOURCE_GROUP = "rg-source-data"
TARGET_RESOURCE_GROUP = "rg-target-data"
REPLICATOR = "replicator"


def pool_name_mapping(services: dict[str, Any]) -> dict[str, str]:
    """Source account -> target account of the same pool index (``srcstore1`` -> ``tgtstore1``)."""
    src, tgt = TENANT_PREFIXES["source"], TENANT_PREFIXES["target"]
    names: dict[str, str] = {}
    pools = [services.get("azurite", {}).get("accounts", {}),
             services.get("cosmos", {}).get("accounts", {})]
    for accounts in pools:
        for name in accounts:
            if name.startswith(src) and tgt + name[len(src):] in accounts:
                names[name] = tgt + name[len(src):]
    return names


def build_config(
    topology: Topology,
    emulator: dict[str, Any],
    services: dict[str, Any],
    extra_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    source = topology.tenant("source")
    target = topology.tenant("target")
    src_principal = source.principals[REPLICATOR]
    tgt_principal = target.principals[REPLICATOR]
    return {
        "source": {
            "cloud": CLOUD_NAME,
            "tenant_id": source.tenant_id,
            "subscription_id": source.subscription_id,
            "resource_groups": [SOURCE_RESOURCE_GROUP],
            "credential": {"client_id": src_principal.client_id,
                           "client_secret_file": src_principal.secret_file},
        },
        "target": {
            "cloud": CLOUD_NAME,
            "tenant_id": target.tenant_id,
            "subscription_id": target.subscription_id,
            "resource_group": TARGET_RESOURCE_GROUP,
            "credential": {"client_id": tgt_principal.client_id,
                           "client_secret_file": tgt_principal.secret_file},
        },
        "mapping": {"names": {**pool_name_mapping(services), **(extra_names or {})}},
        "filters": {"types": []},
        "clouds": {
            CLOUD_NAME: {
                "authority_host": emulator["entra"],
                "resource_manager": emulator["arm"],
                "arm_scope": ARM_SCOPE,
                "ca_bundle": "ca.pem",
            }
        },
        "options": {},
    }


KEPT = ("filters", "options")
"""Sections of ``config.json`` a restart keeps as they were (the user's or a test's edits);
the name mappings are kept too, the endpoints and credentials are new."""


def renew_config(path: Path, fresh: dict[str, Any]) -> None:
    """Write ``fresh`` (from :func:`build_config` after ``sandbox up``) over the config at
    ``path``, keeping what ``seed`` and its user added to the old one: name mappings,
    filters and options. A config that cannot be read is replaced."""
    try:
        previous = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        previous = {}
    if isinstance(previous, dict):
        names = (previous.get("mapping") or {}).get("names") or {}
        fresh["mapping"]["names"] = {**names, **fresh["mapping"]["names"]}
        for section in KEPT:
            if isinstance(previous.get(section), dict):
                fresh[section] = previous[section]
    write_config(path, fresh)


def write_config(path: Path, config: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.replace(path)


def add_name_mappings(path: Path, names: dict[str, str]) -> None:
    """Merge source -> target name pairs into an existing config (used by ``sandbox seed``)."""
    config = json.loads(path.read_text())
    config.setdefault("mapping", {}).setdefault("names", {}).update(names)
    write_config(path, config)
