"""The small, frozen value types that plugins and the core exchange.

Names follow the seed documents (``ReplicationMode``, ``Permission``,
``DataPlaneItem``, ``ReplicationResult``). Every descriptor is frozen and
built from keyword arguments, so adding an optional field later breaks no
plugin.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Side = Literal["source", "target"]

_ARM_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9.]*(/[A-Za-z][A-Za-z0-9]*)+$")

_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/(?P<namespace>[^/]+)/(?P<rest>.+)$",
    re.IGNORECASE,
)


class ReplicationMode(enum.StrEnum):
    """How much of the data plane to copy.

    ``template`` copies structure only (names, attributes, empty containers,
    placeholder secret values) and is the safe default. ``replication``
    copies values and contents and must be asked for explicitly.
    """

    TEMPLATE = "template"
    REPLICATION = "replication"


ALL_MODES: tuple[ReplicationMode, ...] = (ReplicationMode.TEMPLATE, ReplicationMode.REPLICATION)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


OPTION_KINDS = ("bool", "int", "float", "str", "choice", "list")


@dataclass(frozen=True)
class PluginOption:
    """An option a plugin reads from the config's ``[options]`` (or ``--option KEY=VALUE``),
    declared in its :class:`ResourceTypeSpec` so that the core checks it before any request.

    ``name`` is the full key, ``<plugin>.<option>`` (``storage.snapshots``). The core
    refuses an undeclared key under a plugin's prefix, converts the value to ``kind``
    (``"true"`` becomes ``True``, ``"64"`` becomes ``64``) and hands plugins the converted
    values; ``atg-dataplane plugins --options`` lists them.
    """

    name: str
    kind: str = "str"
    """``bool``, ``int``, ``float``, ``str``, ``choice`` (one of ``choices``) or ``list``
    (strings, or one comma-separated string; each one of ``choices`` when given)."""
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    """Smallest value allowed (``int`` and ``float``)."""
    aliases: tuple[str, ...] = ()
    """Other keys that set it, e.g. an unprefixed ``all_versions``."""

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name}: kind must be one of {', '.join(OPTION_KINDS)}")
        if "." not in self.name:
            raise ValueError(f"option {self.name!r} must be named <plugin>.<option>")
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "help": self.help,
            "choices": list(self.choices),
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class ResourceTypeSpec:
    """What a plugin serves: one ARM resource type and the item kinds in it.

    Returned by ``dataplane_resource_types``.
    """

    resource_type: str
    """ARM type, e.g. ``Microsoft.KeyVault/vaults`` (compared case-insensitively)."""
    item_kinds: tuple[str, ...]
    """The kinds of :class:`DataPlaneItem` this plugin discovers, e.g. ``("secret", "key")``."""
    modes: tuple[ReplicationMode, ...] = ALL_MODES
    """Modes the plugin supports for this type."""
    max_concurrency_per_resource: int | None = None
    """Upper bound on concurrent item writes into one resource (Key Vault throttles per vault)."""
    arm_api_version: str = ""
    """ARM api-version the engine uses to read full resources of this type (properties)."""
    description: str = ""
    options: tuple[PluginOption, ...] = ()
    """The options the plugin reads for this type (checked and converted by the core)."""

    def __post_init__(self) -> None:
        if not _ARM_TYPE.match(self.resource_type):
            raise ValueError(
                f"resource_type {self.resource_type!r} is not an ARM type "
                "(expected 'Namespace/type', e.g. 'Microsoft.KeyVault/vaults')"
            )
        if isinstance(self.item_kinds, str):
            raise ValueError(
                f"{self.resource_type}: item_kinds must be a tuple of kinds, e.g. ('secret',)"
            )
        if not self.item_kinds:
            raise ValueError(f"{self.resource_type}: item_kinds must name at least one kind")
        object.__setattr__(self, "item_kinds", tuple(self.item_kinds))
        object.__setattr__(self, "modes", tuple(ReplicationMode(m) for m in self.modes))
        if not self.modes:
            raise ValueError(f"{self.resource_type}: modes must name at least one mode")
        object.__setattr__(self, "options", tuple(self.options))
        limit = self.max_concurrency_per_resource
        if limit is not None and limit < 1:
            raise ValueError(f"{self.resource_type}: max_concurrency_per_resource must be >= 1")

    @property
    def key(self) -> str:
        return self.resource_type.lower()


@dataclass(frozen=True)
class Permission:
    """An Azure RBAC requirement (or, for access-policy vaults, its policy form).

    ``scope`` is ``resource`` (the data-plane resource itself), ``resource_group`` or
    ``subscription``. ``side`` says on which tenant it is needed.
    """

    scope: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    description: str = ""
    side: Side = "source"
    resource_type: str = ""
    suggested_role: str = ""
    """Name of a built-in role that grants every action above, for the printed fix."""
    access_policy: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """For Key Vault access-policy vaults: ``{"secrets": ("get", "list"), ...}``."""
    optional: bool = False
    """Only a feature needs it: a gap is a warning and the run goes on without it."""

    def __post_init__(self) -> None:
        for name in ("actions", "not_actions", "data_actions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(
            self,
            "access_policy",
            _frozen_mapping({k: tuple(v) for k, v in self.access_policy.items()}),
        )
        if self.side not in ("source", "target"):
            raise ValueError(f"Permission.side must be 'source' or 'target', not {self.side!r}")


@dataclass(frozen=True)
class AzureResource:
    """An ARM resource as the engine hands it to plugins (one side of a pair)."""

    id: str
    type: str
    name: str
    location: str = ""
    properties: Mapping[str, Any] = field(default_factory=dict, hash=False)
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", _frozen_mapping(self.properties))
        object.__setattr__(self, "tags", _frozen_mapping(self.tags))

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only views do not pickle; a cluster run sends resources to its workers.
        fields = (self.id, self.type, self.name, self.location)
        return (type(self), (*fields, dict(self.properties), dict(self.tags)))

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> AzureResource:
        """Build from an ARM JSON object (``az resource list`` / ATG export shape)."""
        try:
            rid, rtype, name = data["id"], data["type"], data["name"]
        except KeyError as missing:
            raise ValueError(f"resource entry lacks the {missing} field") from None
        parse_resource_id(rid)
        return cls(
            id=rid,
            type=rtype,
            name=name,
            location=data.get("location") or "",
            properties=data.get("properties") or {},
            tags=data.get("tags") or {},
        )

    @property
    def subscription_id(self) -> str:
        return parse_resource_id(self.id)["subscription"]

    @property
    def resource_group(self) -> str:
        return parse_resource_id(self.id)["group"]


def parse_resource_id(resource_id: str) -> dict[str, str]:
    """Split an ARM id; raise ValueError with a clear message when malformed."""
    match = _RESOURCE_ID.match(resource_id or "")
    if not match:
        raise ValueError(
            f"malformed resource id {resource_id!r}: expected "
            "/subscriptions/<id>/resourceGroups/<group>/providers/<Namespace>/<type>/<name>"
        )
    parts = match.groupdict()
    rest = parts.pop("rest").split("/")
    if len(rest) < 2 or len(rest) % 2 or not all(rest):
        raise ValueError(f"malformed resource id {resource_id!r}: type and name do not pair up")
    parts["type"] = parts["namespace"] + "/" + "/".join(rest[0::2])
    parts["name"] = rest[-1]
    return parts


@dataclass(frozen=True)
class DataPlaneItem:
    """One thing inside a resource: a secret, a blob, a document, an image tag ...

    ``properties`` must never hold a secret value: it is logged, journalled and
    compared. Values are compared through ``fingerprint`` (a keyed hash).
    """

    name: str
    kind: str
    source_resource_id: str
    properties: Mapping[str, Any] = field(default_factory=dict, hash=False)
    size_bytes: int = 0
    fingerprint: str | None = None
    version: str | None = None
    """Version identifier when the plugin discovers more than the current version."""
    copyable: bool = True
    not_copyable_reason: str = ""
    """Why the item cannot be copied in full (e.g. a non-exportable key) and what to do."""
    recreated: bool = False
    """For an item that is not copyable: the plugin still creates it in the target with the
    same parameters (a key with new material, a disabled secret with a placeholder), so
    verification looks for it there and compares its properties (not its contents)."""
    order: int = 0
    """Items of one resource are written in ascending ``order`` within a name (versions)."""
    after: tuple[str, ...] = ()
    """Keys (``kind:name``) of items of the same resource that must be written first: a
    policy after the named values it references, an API after its version set. The engine
    runs independent items at once and starts this one when those are done; if one of them
    failed, this one fails too, naming it. Discover an item after the items it names."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", _frozen_mapping(self.properties))
        if not self.name:
            raise ValueError("DataPlaneItem.name must not be empty")
        if self.size_bytes < 0:
            raise ValueError("DataPlaneItem.size_bytes must be >= 0")

    @property
    def key(self) -> str:
        """Stable identity of the source item inside its resource (kind, name, version)."""
        return f"{self.kind}:{self.name}" + (f"@{self.version}" if self.version else "")

    @property
    def match_key(self) -> str:
        """Identity shared by both sides: versions match by position, not by id."""
        return f"{self.kind}:{self.name}" + (f"#{self.order}" if self.version else "")


ItemStatus = Literal["replicated", "unchanged", "skipped"]


@dataclass(frozen=True)
class ItemOutcome:
    """What ``dataplane_replicate_item`` returns for an item it handled."""

    status: ItemStatus = "replicated"
    bytes_copied: int = 0
    """Bytes written into the target (server-side copies count here too)."""
    client_bytes: int = 0
    """Payload bytes that passed through this process (zero for server-side copies)."""
    warnings: tuple[str, ...] = ()
    reason: str = ""
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "warnings", tuple(self.warnings))


class ItemError(Exception):
    """A permanent, per-item failure a plugin raises with a reason and a remedy.

    The engine records it against the item and goes on with the run.
    """

    def __init__(self, reason: str, *, remedy: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.reason} ({self.remedy})" if self.remedy else self.reason


@dataclass
class ReplicationResult:
    """Totals for a run or a resource (mutable: the engine accumulates it)."""

    discovered: int = 0
    replicated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bytes: int = 0
    duration: float = 0.0

    @property
    def success(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "discovered": self.discovered,
            "replicated": self.replicated,
            "skipped": self.skipped,
            "failed": self.failed,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "bytes": self.bytes,
            "duration": round(self.duration, 3),
            "success": self.success,
        }


EventType = Literal[
    "run_started",
    "resource_discovered",
    "item_done",
    "item_skipped",
    "item_failed",
    "run_finished",
]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress event, delivered to every ``dataplane_progress`` implementation."""

    type: EventType
    run_id: str = ""
    mode: ReplicationMode | None = None
    resource_id: str = ""
    resource_type: str = ""
    item_kind: str = ""
    item_name: str = ""
    items: int = 0
    """For ``resource_discovered``: items found; for ``run_started``: items planned, if known."""
    bytes: int = 0
    reason: str = ""
    result: ReplicationResult | None = None
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.type, "timestamp": round(self.timestamp, 3)}
        for name in (
            "run_id",
            "resource_id",
            "resource_type",
            "item_kind",
            "item_name",
            "items",
            "bytes",
            "reason",
        ):
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.mode is not None:
            data["mode"] = self.mode.value
        if self.result is not None:
            data["result"] = self.result.to_dict()
        return data
