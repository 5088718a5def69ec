"""atg-dataplane: copy the data plane of an Azure tenant into another tenant.

Plugin authors need only this module::

    from atg_dataplane import hookimpl, ResourceTypeSpec, DataPlaneItem, ItemOutcome
"""

import pluggy

from atg_dataplane.__about__ import __version__
from atg_dataplane.context import (
    Checkpoint,
    Fingerprinter,
    ResourceBinding,
    SideContext,
    TargetListing,
)
from atg_dataplane.deferred import deferred
from atg_dataplane.hookspecs import PROJECT_NAME
from atg_dataplane.models import (
    ALL_MODES,
    AzureResource,
    DataPlaneItem,
    ItemError,
    ItemOutcome,
    Permission,
    PluginOption,
    ProgressEvent,
    ReplicationMode,
    ReplicationResult,
    ResourceTypeSpec,
)
from atg_dataplane.parallel import merge, prefetch, read_ahead
from atg_dataplane.retry import RetrySettings, idempotent, is_settling

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@hookimpl`` or ``@hookimpl(wrapper=True)``."""

__all__ = [
    "ALL_MODES",
    "AzureResource",
    "Checkpoint",
    "DataPlaneItem",
    "Fingerprinter",
    "ItemError",
    "ItemOutcome",
    "Permission",
    "PluginOption",
    "ProgressEvent",
    "ReplicationMode",
    "ReplicationResult",
    "ResourceBinding",
    "ResourceTypeSpec",
    "RetrySettings",
    "SideContext",
    "TargetListing",
    "__version__",
    "deferred",
    "hookimpl",
    "idempotent",
    "is_settling",
    "merge",
    "prefetch",
    "read_ahead",
]
