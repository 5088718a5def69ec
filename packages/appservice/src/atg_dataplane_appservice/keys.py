"""A function app's host keys (``host/functionKeys/NAME``, ``host/systemKeys/NAME``,
``host/masterKey/_master``) and its functions' keys (``functions/FUNCTION/keys/NAME``):
in template mode created by name with values the service makes, in replication mode set
to the source's values. The service reads a key's value only inside ``properties``, and
answers a function's ``listkeys`` flat (not the ``StringDictionary`` its specification
names), so both shapes are read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from atg_dataplane import DataPlaneItem, Fingerprinter, ItemError, ItemOutcome, ResourceBinding
from azure.core.exceptions import ResourceNotFoundError

from atg_dataplane_appservice import sites

HOST_KEY_TYPES = ("functionKeys", "systemKeys")
Where = tuple[str, str, str]
"""``("host", key type, name)`` or ``("function", function, name)``."""


def host_keys(binding: ResourceBinding, slot: str | None) -> dict[str, dict[str, str]]:
    found = sites.call(binding, "list_host_keys", slot).as_dict()
    return {
        "masterKey": {"_master": str(found.get("masterKey") or "")},
        **{kind: dict(found.get(kind) or {}) for kind in HOST_KEY_TYPES},
    }


def function_keys(binding: ResourceBinding, slot: str | None, function: str) -> dict[str, str]:
    found = dict(sites.call(binding, "list_function_keys", slot, function).as_dict())
    inner = found.get("properties")
    if isinstance(inner, Mapping):
        return {str(k): str(v) for k, v in inner.items()}
    return {
        str(k): str(v)
        for k, v in found.items()
        if k not in ("id", "name", "type", "kind", "location") and isinstance(v, str)
    }


def functions(binding: ResourceBinding, slot: str | None) -> list[str]:
    return [str(f.name).split("/")[-1] for f in sites.call(binding, "list_functions", slot)]


def host_key_items(
    binding: ResourceBinding, slot: str | None, after: tuple[str, ...]
) -> Iterator[DataPlaneItem]:
    for key_type, keys in host_keys(binding, slot).items():
        for key in sorted(keys):
            name = f"{sites.prefix(slot)}host/{key_type}/{key}"
            yield sites.item(binding, name, "host_key", after=after)


def function_key_items(
    binding: ResourceBinding, slot: str | None, after: tuple[str, ...]
) -> Iterator[DataPlaneItem]:
    """Each function's keys, after ``after`` (what brings the function to the target)."""
    for function in sorted(functions(binding, slot)):
        for key in sorted(function_keys(binding, slot, function)):
            name = f"{sites.prefix(slot)}functions/{function}/keys/{key}"
            yield sites.item(binding, name, "function_key", after=after)


def where(item: DataPlaneItem) -> tuple[str | None, Where]:
    """The slot and key an item names."""
    slot, rest = sites.slot_of(item.name)
    parts = rest.split("/")
    if item.kind == "host_key":
        return slot, ("host", parts[1], parts[2])
    return slot, ("function", parts[1], parts[3])


def value(binding: ResourceBinding, slot: str | None, key: Where) -> str | None:
    scope, owner, name = key
    if scope == "host":
        return host_keys(binding, slot).get(owner, {}).get(name)
    try:
        keys = function_keys(binding, slot, owner)
    except ResourceNotFoundError:
        raise ItemError(
            f"the function {owner!r} is not in the {binding.side}'s code",
            remedy="deploy the code (replication mode copies it) and re-run",
        ) from None
    return keys.get(name)


def replicate(
    item: DataPlaneItem, source: ResourceBinding, target: ResourceBinding, replication: bool
) -> ItemOutcome:
    slot, key = where(item)
    theirs = value(target, slot, key)
    wanted = value(source, slot, key) if replication else None
    if theirs is not None and (not replication or theirs == wanted):
        return ItemOutcome(status="unchanged")
    body = {"properties": {"name": key[2], **({"value": wanted} if wanted else {})}}
    if key[0] == "host":
        sites.call(target, "create_or_update_host_secret", slot, key[1], key[2], key=body)
    else:
        sites.call(target, "create_or_update_function_secret", slot, key[1], key[2], key=body)
    return ItemOutcome(status="replicated")


def fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str:
    slot, key = where(item)
    return fingerprinter.of(value(resource, slot, key) or "")
