"""What every part of the plugin needs: the ARM client, calls on a site or one of its
slots, and item names (``appsettings/X`` for the site, ``slots/staging/appsettings/X`` for
a slot)."""

from __future__ import annotations

import contextlib
from typing import Any

from atg_dataplane import DataPlaneItem, ResourceBinding, idempotent
from azure.mgmt.web import WebSiteManagementClient

SAFE_TO_REPEAT = ("list_", "get_", "create_or_update_host_secret",
                  "create_or_update_function_secret")
"""Calls sent again after a lost answer like reads (:func:`atg_dataplane.idempotent`):
reads (Azure lists keys and settings with POST ``list`` actions, which the retry policy
does not repeat unless told), and a key's write, which sets one named key to one value."""


def client(binding: ResourceBinding) -> WebSiteManagementClient:
    found: WebSiteManagementClient = binding.context.mgmt(
        WebSiteManagementClient, binding.resource.subscription_id
    )
    return found


def call(binding: ResourceBinding, method: str, slot: str | None, *args: Any, **kw: Any) -> Any:
    """``web_apps.method`` on the site, or ``method_slot`` on one of its slots."""
    apps = client(binding).web_apps
    rg, name = binding.resource.resource_group, binding.resource.name
    safe = idempotent() if method.startswith(SAFE_TO_REPEAT) else contextlib.nullcontext()
    with safe:
        if slot:
            return getattr(apps, method + "_slot")(rg, name, *args, slot=slot, **kw)
        return getattr(apps, method)(rg, name, *args, **kw)


def slots(binding: ResourceBinding) -> list[str | None]:
    """The site (None) and its slots' names."""
    listed = call(binding, "list_slots", None)
    return [None, *sorted(str(s.name).split("/")[-1] for s in listed)]


def slot_of(name: str) -> tuple[str | None, str]:
    """``slots/staging/appsettings/X`` -> (``staging``, ``appsettings/X``)."""
    parts = name.split("/")
    return (parts[1], "/".join(parts[2:])) if parts[0] == "slots" else (None, name)


def prefix(slot: str | None) -> str:
    return f"slots/{slot}/" if slot else ""


def site(binding: ResourceBinding, slot: str | None) -> Any:
    return binding.cached(f"site:{slot}", lambda: call(binding, "get", slot))


def is_function_app(binding: ResourceBinding) -> bool:
    return "functionapp" in str(site(binding, None).kind or "").lower()


def item(binding: ResourceBinding, name: str, kind: str, **kw: Any) -> DataPlaneItem:
    return DataPlaneItem(name=name, kind=kind, source_resource_id=binding.resource.id, **kw)
