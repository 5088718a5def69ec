"""A plugin that serves no type: adds a permission everywhere, records progress."""

from __future__ import annotations

from atg_dataplane import Permission, ProgressEvent, ReplicationMode, hookimpl

EVENTS: list[ProgressEvent] = []


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return [Permission(scope="subscription", side="target", actions=("Policy/extra/read",))]


@hookimpl
def dataplane_progress(event: ProgressEvent) -> None:
    EVENTS.append(event)
