"""What secrets, keys and certificates share: options, attributes, versions, soft delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from atg_dataplane import (
    DataPlaneItem,
    ItemError,
    ReplicationMode,
    ResourceBinding,
    is_settling,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

DEFAULT_PLACEHOLDER = "ATG-PLACEHOLDER: set the real value"
KEY_BACKUP_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True)
class KeyVaultOptions:
    """The run options this plugin reads (``options`` of the hooks)."""

    all_versions: bool = False
    """Copy every version (oldest first), not only the current one (replication mode)."""
    placeholder: str = DEFAULT_PLACEHOLDER
    """Value written for every secret in template mode."""
    key_backup: str = "auto"
    """``auto``: try backup/restore of keys only when both sides share a subscription (the
    only place Key Vault restores a backup); ``always``; ``never``."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> KeyVaultOptions:
        options = options or {}

        def pick(name: str, default: Any) -> Any:
            for key in (f"keyvault.{name}", name):
                if options.get(key) is not None:
                    return options[key]
            return default

        key_backup = str(pick("key_backup", "auto")).lower()
        if key_backup not in KEY_BACKUP_CHOICES:
            raise ValueError(
                f"option keyvault.key_backup must be one of {', '.join(KEY_BACKUP_CHOICES)}, "
                f"not {key_backup!r}"
            )
        placeholder = str(options.get("keyvault.placeholder") or DEFAULT_PLACEHOLDER)
        return cls(
            all_versions=_truthy(pick("all_versions", False)),
            placeholder=placeholder,
            key_backup=key_backup,
        )

    def versions_for(self, mode: ReplicationMode) -> bool:
        """All versions only make sense when values are copied."""
        return self.all_versions and mode is ReplicationMode.REPLICATION


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# ---------------------------------------------------------------- attributes


def iso(value: dt.datetime | None) -> str | None:
    """A UTC timestamp to the second, as Key Vault stores it (``...Z``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def common_attributes(props: Any) -> dict[str, Any]:
    """Attributes every Key Vault object has and that must match on both sides."""
    return {
        "enabled": props.enabled,
        "expires_on": iso(props.expires_on),
        "not_before": iso(props.not_before),
        "tags": dict(sorted((props.tags or {}).items())),
    }


# ------------------------------------------------------------------ versions

P = TypeVar("P")


def oldest_first(versions: Iterable[P]) -> list[P]:
    """Versions sorted by creation time, oldest first.

    Key Vault keeps creation times to the second, so versions made within one
    second tie; the sort is stable, so ties keep the order the service listed
    them in (the only hint left).
    """
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(versions, key=lambda p: getattr(p, "created_on", None) or epoch)


def candidates_at(versions: Sequence[P], index: int) -> Iterator[P]:
    """The target versions that may hold the source's ``index``-th oldest version.

    Matching by position alone breaks as soon as the two histories differ: a
    version the target held before, or versions written within one second,
    whose order Key Vault's one-second creation times cannot tell. So every
    target version is a candidate; the one at the same position and those of
    its second come first, so that the usual case reads a single version.
    Lazy: the caller stops reading at the first match.
    """
    first: list[P] = []
    if index < len(versions):
        created = getattr(versions[index], "created_on", None)
        first = [v for v in versions if created is not None and v.created_on == created]  # type: ignore[attr-defined]
        first = first or [versions[index]]
    yield from first
    yield from (v for v in reversed(versions) if all(v is not f for f in first))


# ------------------------------------------------------------ target listing


def absent_in_target(
    target: ResourceBinding, kind: str, item: DataPlaneItem, pager: Callable[[], Iterable[Any]]
) -> bool:
    """True when the target vault held no ``kind`` of this name when the run listed it.

    Such an item is written without reading the target first (one request instead of
    two or three). ``pager`` lists the target's objects of ``kind`` (once per run, see
    :class:`atg_dataplane.TargetListing`). Names compare case-insensitively, as Key Vault
    compares them. The later versions of a name that was absent stay absent-known (a
    version chain is replicated in order, by this run alone) until a write finds the
    name taken after all (:func:`recover_soft_deleted` forgets it).
    """
    absent = _absent_names(target, kind)
    name = item.name.lower()
    if is_settling():  # tried again: the first attempt may have created it
        absent.discard(name)
        return False
    if item.order == 0:  # the first (or only) version of its name
        listing = target.listing(
            f"keyvault:{kind}", lambda: ((str(p.name).lower(), p) for p in pager())
        )
        known, entry = listing.take(name)
        if known and entry is None:
            absent.add(name)
            return True
        absent.discard(name)
        return False
    return name in absent


def _absent_names(target: ResourceBinding, kind: str) -> set[str]:
    names: set[str] = target.cached(f"keyvault.absent:{kind}", set)
    return names


# --------------------------------------------------------------- soft delete

_COLLECTIONS = {"secret": "secrets", "key": "keys", "certificate": "certificates"}


def recover_soft_deleted(
    *,
    kind: str,
    name: str,
    target: ResourceBinding,
    get_deleted: Callable[[str], Any],
    begin_recover: Callable[[str], Any],
    conflict: HttpResponseError,
) -> None:
    """Recover a soft-deleted object whose name blocks a write, or explain what to do.

    ``conflict`` is the 409 the write got. When the name is not soft-deleted
    after all, the conflict is re-raised unchanged.
    """
    # The name was not free after all: its later versions must read the target again.
    _absent_names(target, kind).discard(name.lower())
    vault = target.resource.name
    deleted = None
    try:
        deleted = get_deleted(name)
    except ResourceNotFoundError:
        raise conflict from None
    except HttpResponseError as error:
        if error.status_code != 403:
            raise
        # Without list permission we cannot look at the deleted object; try recovering anyway.
    try:
        begin_recover(name).wait()
    except HttpResponseError as error:
        if error.status_code not in (401, 403):
            raise
        raise ItemError(
            f"{kind} {name!r} is soft-deleted in the target vault {vault!r} and could not be "
            f"recovered: {_message(error)}",
            remedy=_remedy(kind, name, target, deleted),
        ) from None


def _remedy(kind: str, name: str, target: ResourceBinding, deleted: Any) -> str:
    vault = target.resource.name
    collection = _COLLECTIONS[kind]
    recover = (
        f"grant Microsoft.KeyVault/vaults/{collection}/recover/action on the target vault "
        f"(or run: az keyvault {kind} recover --vault-name {vault} --name {name}) and re-run"
    )
    props = getattr(deleted, "properties", None)
    level = str(getattr(props, "recovery_level", "") or "")
    purge_date = getattr(deleted, "scheduled_purge_date", None)
    protected = bool(target.resource.properties.get("enablePurgeProtection")) or (
        bool(level) and "purgeable" not in level.lower()
    )
    if protected:
        when = f" (scheduled purge: {iso(purge_date)})" if purge_date else ""
        return (
            f"{recover}; the vault has purge protection, so the deleted {kind} cannot be purged "
            f"until its retention period ends{when}"
        )
    purge = f"az keyvault {kind} purge --vault-name {vault} --name {name}"
    return f"{recover}; or purge it to reuse the name: {purge}"


def _message(error: HttpResponseError) -> str:
    inner = getattr(error, "error", None)
    return str(getattr(inner, "message", None) or error.message or error.reason or error)


def is_disabled_error(error: HttpResponseError) -> bool:
    """Key Vault's 403 for reading a disabled secret (``Operation get is not allowed ...``)."""
    if error.status_code != 403:
        return False
    text = f"{getattr(getattr(error, 'error', None), 'code', '')} {_message(error)}".lower()
    return "disabled" in text
