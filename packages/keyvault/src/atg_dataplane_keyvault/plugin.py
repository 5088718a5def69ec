"""atg-dataplane hooks for ``Microsoft.KeyVault/vaults``: secrets, keys and certificates.

The engine calls these hooks only for vaults, so there is no type check here.
Everything that is the same for every resource type (concurrency, retries,
journal and resume, progress, verification) belongs to the engine.

Options read (``options`` of the hooks):

* ``keyvault.all_versions`` (or ``all_versions``): in replication mode, copy
  every version of secrets and of certificates with exportable keys, oldest
  first (``DataPlaneItem.order``); default: current versions only.
* ``keyvault.placeholder``: the value template mode writes into every secret.
* ``keyvault.key_backup``: ``auto`` (default: try a key backup/restore only when
  both vaults share a subscription and location, the only place Key Vault
  restores a backup), ``always`` or ``never``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    Permission,
    PluginOption,
    ReplicationMode,
    ResourceBinding,
    ResourceTypeSpec,
    hookimpl,
    merge,
)

from atg_dataplane_keyvault import certificates, keys, secrets, terraform
from atg_dataplane_keyvault.common import (
    DEFAULT_PLACEHOLDER,
    KEY_BACKUP_CHOICES,
    KeyVaultOptions,
)
from atg_dataplane_keyvault.permissions import RESOURCE_TYPE, permissions

ITEM_KINDS = (secrets.KIND, keys.KIND, certificates.KIND)

# Key Vault throttles per vault per 10 seconds, and creating keys (RSA above all)
# is throttled far harder than reading secrets: keep writes into one vault few;
# azure-core's retry policy, set by the engine, honours Retry-After beyond that.
MAX_WRITES_PER_VAULT = 8
# A Microsoft.KeyVault api-version with properties.vaultUri and the permission model.
VAULT_API_VERSION = "2023-07-01"

_KINDS = {secrets.KIND: secrets, keys.KIND: keys, certificates.KIND: certificates}

OPTIONS = (
    PluginOption(
        "keyvault.all_versions",
        "bool",
        False,
        "in replication mode, copy every version of secrets and of certificates with "
        "exportable keys, oldest first (also --all-versions)",
        aliases=("all_versions",),
    ),
    PluginOption(
        "keyvault.placeholder",
        "str",
        DEFAULT_PLACEHOLDER,
        "the value template mode writes into every secret",
    ),
    PluginOption(
        "keyvault.key_backup",
        "choice",
        "auto",
        "auto: try a key backup/restore only when both vaults share a subscription and "
        "location (the only place Key Vault restores one); always; never",
        choices=KEY_BACKUP_CHOICES,
    ),
)


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=ITEM_KINDS,
            max_concurrency_per_resource=MAX_WRITES_PER_VAULT,
            arm_api_version=VAULT_API_VERSION,
            description="Key Vault secrets, keys and certificates",
            options=OPTIONS,
        )
    ]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return permissions(ReplicationMode(mode))


@hookimpl
def dataplane_discover(
    resource: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    mode = ReplicationMode(mode)
    settings = KeyVaultOptions.from_options(options)
    # The three listings side by side (each reads every object or version it lists): the
    # first secrets reach the engine at once, not after every certificate and key. The
    # slowest to copy (issuing a certificate, creating a key) still start first.
    yield from merge(
        certificates.discover(resource, mode, settings, fingerprinter),
        keys.discover(resource, mode, settings, fingerprinter),
        secrets.discover(resource, mode, settings),
    )


@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    handler = _KINDS[item.kind]
    return handler.replicate(
        item,
        source,
        target,
        ReplicationMode(mode),
        KeyVaultOptions.from_options(options),
        fingerprinter,
    )


@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> str | None:
    return _KINDS[item.kind].fingerprint(item, resource, ReplicationMode(mode), fingerprinter)


@hookimpl
def dataplane_terraform(
    resource: ResourceBinding,
    items: Iterable[DataPlaneItem],
    mode: ReplicationMode,
    options: Mapping[str, Any],
) -> str:
    return terraform.render(items, vault_name=resource.resource.name)
