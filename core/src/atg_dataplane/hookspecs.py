"""Hook specifications: the whole contract between the core and a plugin.

Every hook is called with keyword arguments, and an implementation may accept
any subset of them: that is how arguments are added without breaking plugins.
Hooks that pick one handler (discovery, replication, fingerprint, terraform)
are ``firstresult``: the engine calls them only on the plugin that owns the
resource type (plus any wrappers), so a plugin serving one type needs no type
check. Every hook is documented in ``docs/hooks.md``; a test keeps the two in
step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from atg_dataplane.context import Checkpoint, Fingerprinter, ResourceBinding
    from atg_dataplane.models import (
        DataPlaneItem,
        ItemOutcome,
        Permission,
        ProgressEvent,
        ReplicationMode,
        ResourceTypeSpec,
    )

PROJECT_NAME = "atg_dataplane"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def dataplane_resource_types() -> Iterable[ResourceTypeSpec]:
    """Return the ARM resource types this plugin serves, as ``ResourceTypeSpec``.

    Collected from every plugin. Two plugins claiming one type is a load error
    naming both.
    """


@hookspec
def dataplane_permissions(
    resource_type: str, mode: ReplicationMode, options: Mapping[str, Any]
) -> Iterable[Permission] | None:
    """Return the permissions needed on each side for ``resource_type`` in ``mode``.

    Collected, never first-result: the core merges every answer (a wrapper or
    a policy plugin may add requirements) and checks them against what the
    caller really has before any write.
    """


@hookspec(firstresult=True)
def dataplane_discover(
    resource: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> Iterable[DataPlaneItem] | None:
    """Yield the data-plane items inside one resource, streaming and paginated.

    Called for the source side when planning and replicating, and for both
    sides when verifying. ``resource.side`` tells which. Items that cannot be
    copied (a non-exportable key) are yielded with ``copyable=False`` and a
    reason. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
    checkpoint: Checkpoint,
) -> ItemOutcome | None:
    """Copy one item from ``source`` to ``target``; idempotent.

    Return an ``ItemOutcome`` (``unchanged`` when the target already matches).
    An item copied in steps (the pages of a large container) saves its progress with
    ``checkpoint.save(...)`` after each step and starts from ``checkpoint.get()``: a
    stopped run resumes it there.
    Raise ``ItemError`` for a permanent per-item failure; let Azure SDK errors
    propagate and the engine classifies and retries them. No retry loops,
    thread pools or progress output here: the engine owns those.
    """


@hookspec(firstresult=True)
def dataplane_fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any],
) -> str | None:
    """Return a fingerprint of the item's content for verification.

    Compute it with ``fingerprinter`` (a keyed hash) so that no value is ever
    stored or printed. Return None when the discovered ``item.fingerprint`` is
    already enough.
    """


@hookspec
def dataplane_progress(event: ProgressEvent) -> None:
    """Receive a progress event; called on every implementation.

    Events: ``run_started``, ``resource_discovered``, ``item_done``,
    ``item_skipped``, ``item_failed``, ``run_finished``. Must return quickly
    and never raise: a slow dashboard slows the run.
    Called from the engine's worker threads, concurrently: implementations must
    be thread-safe.
    """


@hookspec
def dataplane_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``atg-dataplane`` command line.

    Called when the command line starts. Use ``@cli.command()`` or
    ``cli.add_command(...)``.
    """


@hookspec(firstresult=True)
def dataplane_terraform(
    resource: ResourceBinding,
    items: Iterable[DataPlaneItem],
    mode: ReplicationMode,
    options: Mapping[str, Any],
) -> str | None:
    """Return Terraform (HCL) that recreates ``items`` in the target resource.

    Values are never written: secrets become ``sensitive`` variables.
    """
