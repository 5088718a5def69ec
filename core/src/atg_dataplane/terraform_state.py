"""What ``deploy --iac-dir`` learns from Terraform state: the target ids.

Terraform has created the control plane; its state (format 4) lists every
resource instance with its ARM ``id``. Those ids say exactly where each
counterpart lives (group and name), so nothing is guessed. A tag
``atg:source-name`` on a target resource names its source when Terraform
renamed it (globally unique names).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atg_dataplane.config import ConfigError
from atg_dataplane.models import parse_resource_id


def read_state(iac_dir: Path) -> dict[str, Any]:
    state_file = iac_dir / "terraform.tfstate"
    if not iac_dir.is_dir():
        raise ConfigError(f"--iac-dir {str(iac_dir)!r} is not a directory")
    if not state_file.exists():
        return {}
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {state_file}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("resources", []), list):
        raise ConfigError(f"{state_file} is not Terraform state (format 4)")
    return data


def _instances(state: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for resource in state.get("resources", []):
        if resource.get("mode", "managed") != "managed":
            continue
        for instance in resource.get("instances", []):
            attrs = instance.get("attributes") or {}
            if isinstance(attrs.get("id"), str):
                found.append(attrs)
    return found


def target_ids(state: dict[str, Any]) -> dict[str, str]:
    """``type/name`` (lower case) -> ARM id, for every ARM resource in the state."""
    ids = {}
    for attrs in _instances(state):
        try:
            parts = parse_resource_id(attrs["id"])
        except ValueError:
            continue  # not an ARM resource id (role assignments, random strings, ...)
        ids[f"{parts['type']}/{parts['name']}".lower()] = attrs["id"]
    return ids


def renamed(state: dict[str, Any]) -> dict[str, str]:
    """Source name -> target name, from the ``atg:source-name`` tag."""
    names = {}
    for attrs in _instances(state):
        source_name = (attrs.get("tags") or {}).get("atg:source-name")
        if source_name and attrs.get("name"):
            names[source_name] = attrs["name"]
    return names
