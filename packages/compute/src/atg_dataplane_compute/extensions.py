"""A VM's extensions: publisher, type, version, auto-upgrade and public settings.

An extension runs code on the VM, so only replication mode (confirmed with ``--yes``)
creates one; template mode reports what the target lacks. Azure never returns an
extension's ``protectedSettings``: for the types known to need them
(``compute.protected_extensions``) the values come from the JSON file the config names
(``compute.protected_settings_file``: ``{"<vm>/<extension>": {...}}``), read to know which
extensions have them and when one is written, never logged; without them the extension
is reported not copyable. They are
written when the extension is created or its public settings change (Azure cannot show
them, so they cannot be compared).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from atg_dataplane import DataPlaneItem, ItemError, ItemOutcome, ResourceBinding, idempotent
from azure.core.exceptions import ResourceNotFoundError

from atg_dataplane_compute import volumes
from atg_dataplane_compute.known import NEEDS_PROTECTED

COMPARED = ("publisher", "type", "typeHandlerVersion", "autoUpgradeMinorVersion", "settings")
TEMPLATE_REASON = (
    "extensions run code on the VM: replication mode creates them (confirmed with --yes)"
)


def _protected(options: Mapping[str, Any]) -> dict[str, Any]:
    path = str(options.get("compute.protected_settings_file") or "")
    if not path:
        return {}
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ItemError(
            f"compute.protected_settings_file {path!r} is not JSON ({type(exc).__name__})",
            remedy='give a JSON object {"<vm>/<extension>": {...}}',
        ) from None
    return dict(found) if isinstance(found, dict) else {}


def _needs(options: Mapping[str, Any]) -> set[str]:
    listed = options.get("compute.protected_extensions")
    return {str(n).lower() for n in (NEEDS_PROTECTED if listed is None else listed)}


def _shown(extension: Any) -> dict[str, Any]:
    props = dict((extension.as_dict().get("properties")) or {})
    return {key: props.get(key) for key in COMPARED if props.get(key) is not None}


def items(
    binding: ResourceBinding, replication: bool, options: Mapping[str, Any]
) -> Iterator[DataPlaneItem]:
    group, name = binding.resource.resource_group, binding.resource.name
    listed = volumes.client(binding).virtual_machine_extensions.list(group, name).value or []
    protected = _protected(options) if replication else {}
    for extension in sorted(listed, key=lambda e: str(e.name)):
        props = _shown(extension)
        kind = f"{props.get('publisher', '')}.{props.get('type', '')}".lower()
        reason = "" if replication else TEMPLATE_REASON
        if replication and kind in _needs(options) and f"{name}/{extension.name}" not in protected:
            reason = (
                f"Azure never returns the protected settings of a {props.get('type')} "
                "extension: give them in the JSON file named by compute.protected_settings_file "
                f'({{"{name}/{extension.name}": {{...}}}}), or install it on the target by hand'
            )
        yield DataPlaneItem(
            name=str(extension.name),
            kind="extension",
            source_resource_id=binding.resource.id,
            properties=props,
            copyable=not reason,
            not_copyable_reason=reason,
        )


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    options: Mapping[str, Any],
) -> ItemOutcome:
    if not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    operations = volumes.client(target).virtual_machine_extensions
    group, vm_name = target.resource.resource_group, target.resource.name
    secret = _protected(options).get(f"{source.resource.name}/{item.name}")
    try:
        theirs: dict[str, Any] | None = _shown(operations.get(group, vm_name, item.name))
    except ResourceNotFoundError:
        theirs = None
    if theirs == dict(item.properties):  # protected settings cannot be compared: kept
        return ItemOutcome(status="unchanged")
    props = {**dict(item.properties), **({"protectedSettings": secret} if secret else {})}
    body = {"location": target.resource.location, "properties": props}
    # by name, the same body: a second time finds the first (safe after a lost answer)
    with volumes.vm_lock(target), idempotent():  # not while a data disk is being swapped
        operations.begin_create_or_update(
            group, vm_name, item.name, body, polling_interval=0.5
        ).result()
    return ItemOutcome(status="replicated")
