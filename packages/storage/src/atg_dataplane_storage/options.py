"""The run options this plugin reads (``options`` of the hooks, keys ``storage.<name>``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atg_dataplane import PluginOption

SERVICES = ("blob", "file", "table", "queue")
SAS_CHOICES = ("auto", "user_delegation", "account_key")
QUEUE_READ_CHOICES = ("auto", "peek", "receive")


@dataclass(frozen=True)
class StorageOptions:
    services: tuple[str, ...] = SERVICES
    """Which services of an account to copy (``storage.services``: ``blob,table``)."""
    server_side: bool = True
    """Copy blob and file contents server-side (copy from URL); ``False`` streams them
    through this process (bounded memory), e.g. when the target cannot reach the source."""
    source_sas: str = "auto"
    """How the target is allowed to read the source: ``user_delegation`` (a SAS signed with a
    user delegation key, needs ``generateUserDelegationKey``), ``account_key`` (a SAS signed
    with a key from ``listKeys``), or ``auto`` (user delegation when it works, else the key)."""
    sas_minutes: int = 60
    """Lifetime of each source SAS (one per blob or file, read-only)."""
    sync_copy_max_bytes: int = 32 * 1024 * 1024
    """Block blobs up to this size use the synchronous Copy Blob From URL (tags copied in the
    same request); larger ones and append/page blobs the asynchronous copy, polled."""
    copy_timeout_seconds: float = 3600.0
    """An asynchronous copy still pending after this long is aborted and reported."""
    copy_stall_seconds: float = 300.0
    """An asynchronous copy whose progress stands still this long is aborted and reported."""
    queue_read: str = "auto"
    """``peek`` (no side effect; at most 32 messages), ``receive`` (hide each batch, copy it,
    make it visible again at once: every message's dequeue count goes up by one), ``auto``
    (peek when the queue holds at most 32 messages, receive otherwise)."""
    queue_visibility_seconds: int = 120
    """How long received source messages stay hidden if this process dies mid-batch."""
    snapshots: bool = False
    """Copy blob snapshots too (oldest first, before the blob; they match by position)."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> StorageOptions:
        options = options or {}

        def pick(name: str, default: Any) -> Any:
            value = options.get(f"storage.{name}")
            return default if value is None else value

        services = pick("services", SERVICES)
        if isinstance(services, str):
            services = tuple(s.strip().lower() for s in services.split(",") if s.strip())
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ValueError(
                f"option storage.services: unknown service(s) {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(SERVICES)}"
            )
        source_sas = str(pick("source_sas", "auto")).lower()
        if source_sas not in SAS_CHOICES:
            raise ValueError(f"option storage.source_sas must be one of {', '.join(SAS_CHOICES)}")
        queue_read = str(pick("queue_read", "auto")).lower()
        if queue_read not in QUEUE_READ_CHOICES:
            raise ValueError(
                f"option storage.queue_read must be one of {', '.join(QUEUE_READ_CHOICES)}"
            )
        return cls(
            services=tuple(services),
            server_side=_truthy(pick("server_side", True)),
            source_sas=source_sas,
            sas_minutes=max(5, int(pick("sas_minutes", 60))),
            sync_copy_max_bytes=int(pick("sync_copy_max_bytes", cls.sync_copy_max_bytes)),
            copy_timeout_seconds=float(pick("copy_timeout_seconds", 3600.0)),
            copy_stall_seconds=float(pick("copy_stall_seconds", 300.0)),
            queue_read=queue_read,
            queue_visibility_seconds=max(30, int(pick("queue_visibility_seconds", 120))),
            snapshots=_truthy(pick("snapshots", False)),
        )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


DECLARED = (
    PluginOption(
        "storage.services", "list", list(SERVICES), "which services to copy", choices=SERVICES
    ),
    PluginOption(
        "storage.server_side",
        "bool",
        True,
        "copy blob and file contents server-side; false streams them through this process",
    ),
    PluginOption(
        "storage.source_sas",
        "choice",
        "auto",
        "how the target reads the source: user_delegation, account_key or auto",
        choices=SAS_CHOICES,
    ),
    PluginOption("storage.sas_minutes", "int", 60, "lifetime of each source SAS", minimum=5),
    PluginOption(
        "storage.sync_copy_max_bytes",
        "int",
        StorageOptions.sync_copy_max_bytes,
        "largest block blob copied synchronously (Copy Blob From URL)",
        minimum=0,
    ),
    PluginOption(
        "storage.copy_timeout_seconds",
        "float",
        3600.0,
        "an asynchronous copy pending longer is aborted and reported",
        minimum=1,
    ),
    PluginOption(
        "storage.copy_stall_seconds",
        "float",
        300.0,
        "an asynchronous copy whose progress stands still this long is aborted",
        minimum=1,
    ),
    PluginOption(
        "storage.queue_read",
        "choice",
        "auto",
        "peek (at most 32 messages, no side effect), receive, or auto",
        choices=QUEUE_READ_CHOICES,
    ),
    PluginOption(
        "storage.queue_visibility_seconds",
        "int",
        120,
        "how long received source messages stay hidden if this process dies",
        minimum=30,
    ),
    PluginOption(
        "storage.snapshots",
        "bool",
        False,
        "copy blob snapshots too (oldest first, before the blob)",
    ),
)
"""Every option the plugin reads, for the core to check before any request."""
