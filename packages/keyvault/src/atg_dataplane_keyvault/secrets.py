"""Secrets: discovery, template placeholders, value copies and fingerprints.

Values only ever pass through memory on their way from one vault to the
other; what is kept, logged or compared is ``fingerprinter.of(value)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    read_ahead,
)
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient, SecretProperties

from atg_dataplane_keyvault.clients import vault_clients
from atg_dataplane_keyvault.common import (
    KeyVaultOptions,
    absent_in_target,
    candidates_at,
    common_attributes,
    is_disabled_error,
    oldest_first,
    parse_iso,
    recover_soft_deleted,
)

KIND = "secret"

DISABLED_REASON = (
    "the secret is disabled and Key Vault does not return the value of a disabled secret: it is "
    "created in the target disabled, with a placeholder value. Enable it in the source "
    "(az keyvault secret set-attributes --vault-name {vault} --name {name} --enabled true) and "
    "re-run to copy the value, or set it in the target by hand"
)


def secret_properties(props: SecretProperties) -> dict[str, Any]:
    """What must match between source and target (never the value, version or timestamps)."""
    return {"content_type": props.content_type, **common_attributes(props)}


def discover(
    resource: ResourceBinding, mode: ReplicationMode, options: KeyVaultOptions
) -> Iterator[DataPlaneItem]:
    client = vault_clients(resource).secrets
    versions = options.versions_for(mode)
    # Managed secrets back certificates: they are copied with the certificate.
    listed = (p for p in client.list_properties_of_secrets() if not p.managed)
    if not versions:
        for props in listed:
            yield _item(resource, mode, props, version=None, order=0)
        return

    def history_of(props: SecretProperties) -> list[SecretProperties]:
        return oldest_first(client.list_properties_of_secret_versions(str(props.name)))

    for history in read_ahead(history_of, listed):
        for order, version in enumerate(history):
            yield _item(
                resource,
                mode,
                version,
                version=version.version,
                order=order,
                current=order == len(history) - 1,
            )


def _item(
    resource: ResourceBinding,
    mode: ReplicationMode,
    props: SecretProperties,
    *,
    version: str | None,
    order: int,
    current: bool = True,
) -> DataPlaneItem:
    copyable, reason = True, ""
    properties = secret_properties(props)
    if version is not None:
        # Which version is current must match too: it is what applications read.
        properties["current"] = current
    if mode is ReplicationMode.REPLICATION and props.enabled is False:
        copyable = False
        reason = DISABLED_REASON.format(vault=resource.resource.name, name=props.name)
    return DataPlaneItem(
        name=props.name,
        kind=KIND,
        source_resource_id=resource.resource.id,
        properties=properties,
        version=version,
        order=order,
        copyable=copyable,
        not_copyable_reason=reason,
        recreated=not copyable,  # created disabled, with a placeholder value
    )


# ------------------------------------------------------------------ replicate


@dataclass(frozen=True)
class _TargetVersion:
    props: SecretProperties
    fingerprint: str | None
    """None when the value cannot be read (the version is disabled)."""


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: KeyVaultOptions,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    vault = target.resource.name
    set_hint = (
        f"az keyvault secret set --vault-name {vault} --name {item.name} "
        "--file <file holding the value>"
    )
    absent = absent_in_target(
        target, KIND, item, vault_clients(target).secrets.list_properties_of_secrets
    )
    if mode is ReplicationMode.TEMPLATE:
        return _template(item, target, options, fingerprinter, set_hint, absent)

    warnings: list[str] = []
    attributes = {k: v for k, v in item.properties.items() if k != "current"}
    try:
        secret = vault_clients(source).secrets.get_secret(item.name, item.version)
        value = secret.value or ""
        attributes = secret_properties(secret.properties)
    except HttpResponseError as error:
        if not is_disabled_error(error):
            raise
        value = options.placeholder
        warnings.append(
            f"secret {item.name!r} is disabled in the source, so its value cannot be read: the "
            f"target holds a placeholder; set the real value: {set_hint}"
        )
    # The current version is compared with the target's current version; an older
    # one with the target's version at the same position (oldest first).
    older = item.version is not None and not item.properties.get("current", True)
    index = item.order if older else None
    outcome = _converge(item.name, value, attributes, index, target, fingerprinter, absent)
    size = len(value.encode("utf-8"))
    written = outcome.status == "replicated"
    return ItemOutcome(
        status=outcome.status,
        bytes_copied=size if written else 0,
        client_bytes=size,
        warnings=(*warnings, *outcome.warnings),
        fingerprint=fingerprinter.of(value),
    )


def _template(
    item: DataPlaneItem,
    target: ResourceBinding,
    options: KeyVaultOptions,
    fingerprinter: Fingerprinter,
    set_hint: str,
    absent: bool,
) -> ItemOutcome:
    """Create the secret with a placeholder; never overwrite a value already in the target.

    A value in the target may be the real one, set by the user after an
    earlier template run: only the attributes are brought in line.
    """
    client = vault_clients(target).secrets
    placeholder_fp = fingerprinter.of(options.placeholder)
    reminder = f"secret {item.name!r} holds a placeholder value; set the real value: {set_hint}"
    for attempt in range(2):
        # Known absent: nothing to read (after a recovery, the recovered secret is there).
        current = None if absent and not attempt else _current(client, item.name, fingerprinter)
        if current is None:
            try:
                _set(client, item.name, options.placeholder, item.properties)
            except ResourceExistsError as conflict:
                if attempt:
                    raise  # still taken after a recovery: not a soft-deleted object
                _recover(item.name, target, conflict)
                continue
            return ItemOutcome(
                status="replicated",
                bytes_copied=len(options.placeholder.encode()),
                warnings=(reminder,),
            )
        warnings = (reminder,) if current.fingerprint == placeholder_fp else ()
        if secret_properties(current.props) == dict(item.properties):
            return ItemOutcome(status="unchanged", warnings=warnings)
        _update(client, item.name, current.props.version, item.properties)
        return ItemOutcome(status="replicated", warnings=warnings)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _converge(
    name: str,
    value: str,
    attributes: dict[str, Any],
    index: int | None,
    target: ResourceBinding,
    fingerprinter: Fingerprinter,
    absent: bool = False,
) -> ItemOutcome:
    """Make the target's current version (or its ``index``-th oldest) hold ``value``.

    ``absent``: the target held no secret of this name when the run began, so there is
    nothing to compare with (the versions it holds now are this run's, older ones).
    """
    client = vault_clients(target).secrets
    wanted = fingerprinter.of(value)
    for attempt in range(2):
        candidates: Iterable[_TargetVersion]
        if absent and not attempt:
            candidates, held = [], 0
        elif index is None:
            current = _current(client, name, fingerprinter)
            candidates = [current] if current is not None else []
            held = 1 if current is not None else 0
        else:
            versions = _versions(client, name)
            held = len(versions)
            candidates = (
                _read_version(client, name, v, fingerprinter)
                for v in candidates_at(versions, index)
            )
        for candidate in candidates:
            if not _same_value(candidate, wanted, attributes):
                continue
            if secret_properties(candidate.props) == attributes:
                return ItemOutcome(status="unchanged")
            _update(client, name, candidate.props.version, attributes)
            return ItemOutcome(status="replicated")
        warnings: tuple[str, ...] = ()
        if index is not None and held > index:
            warnings = (
                f"secret {name!r}: the target already held {held} versions and its version "
                f"#{index + 1} (oldest first) differs from the source's; the source's version was "
                "added as the newest, so the version history of the two vaults differs",
            )
        try:
            _set(client, name, value, attributes)
        except ResourceExistsError as conflict:
            if attempt:
                raise  # still taken after a recovery: not a soft-deleted object
            _recover(name, target, conflict)
            continue
        return ItemOutcome(status="replicated", warnings=warnings)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _same_value(candidate: _TargetVersion, wanted: str, attributes: dict[str, Any]) -> bool:
    if candidate.fingerprint is not None:
        return candidate.fingerprint == wanted
    # A disabled version hides its value: it stands for the source's only when
    # the source's is disabled too and every attribute matches.
    return attributes.get("enabled") is False and secret_properties(candidate.props) == attributes


def _current(
    client: SecretClient, name: str, fingerprinter: Fingerprinter
) -> _TargetVersion | None:
    try:
        secret = client.get_secret(name)
    except ResourceNotFoundError:
        return None
    except HttpResponseError as error:
        if not is_disabled_error(error):
            raise
        newest = _versions(client, name)[-1:]
        if not newest:
            raise
        return _TargetVersion(props=newest[0], fingerprint=None)
    return _TargetVersion(props=secret.properties, fingerprint=fingerprinter.of(secret.value or ""))


def _versions(client: SecretClient, name: str) -> list[SecretProperties]:
    try:
        return oldest_first(client.list_properties_of_secret_versions(name))
    except ResourceNotFoundError:
        return []


def _read_version(
    client: SecretClient, name: str, props: SecretProperties, fingerprinter: Fingerprinter
) -> _TargetVersion:
    if props.enabled is False:
        return _TargetVersion(props=props, fingerprint=None)
    secret = client.get_secret(name, props.version)
    return _TargetVersion(props=secret.properties, fingerprint=fingerprinter.of(secret.value or ""))


def _set(client: SecretClient, name: str, value: str, attributes: Any) -> None:
    client.set_secret(name, value, **_writable_attributes(attributes))


def _update(client: SecretClient, name: str, version: str | None, attributes: Any) -> None:
    client.update_secret_properties(name, version, **_writable_attributes(attributes))


def _writable_attributes(attributes: Any) -> dict[str, Any]:
    """The keyword arguments ``set_secret`` and ``update_secret_properties`` take alike."""
    return {
        "enabled": attributes.get("enabled"),
        "content_type": attributes.get("content_type"),
        "tags": dict(attributes.get("tags") or {}),
        "not_before": parse_iso(attributes.get("not_before")),
        "expires_on": parse_iso(attributes.get("expires_on")),
    }


def _recover(name: str, target: ResourceBinding, conflict: HttpResponseError) -> None:
    client = vault_clients(target).secrets
    recover_soft_deleted(
        kind=KIND,
        name=name,
        target=target,
        get_deleted=client.get_deleted_secret,
        begin_recover=client.begin_recover_deleted_secret,
        conflict=conflict,
    )


# ---------------------------------------------------------------- fingerprint


def fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> str | None:
    """Keyed hash of the value on ``resource``'s side (replication mode only).

    In template mode the target holds placeholders by design, so values are
    not compared; a disabled secret's value cannot be read at all.
    """
    if mode is ReplicationMode.TEMPLATE or item.properties.get("enabled") is False:
        return None
    secret = vault_clients(resource).secrets.get_secret(item.name, item.version)
    return fingerprinter.of(secret.value or "")
