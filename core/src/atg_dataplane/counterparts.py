"""Counterparts: a value inside one resource that points at another resource of the source
tenant (an API Management named value's Key Vault secret, a web app setting's storage
connection string or ``@Microsoft.KeyVault(...)`` reference) must point at that resource's
counterpart in the target tenant: the same name, or the config's ``[mapping.names]``.

Resources are found through ARM once per side and run (a listing of the type, then a read
of each for its endpoints, several at once; one that cannot be read is left out, with a
warning), and matched by the longest endpoint that prefixes the
value's URL: vaults have their own host, while storage accounts may share one (an
emulator's accounts are paths below it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError

from atg_dataplane.context import ResourceBinding, SideContext
from atg_dataplane.models import ItemError
from atg_dataplane.parallel import read_ahead

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    name: str
    """The resource's name (as ARM spells it)."""
    label: str
    """Which of its endpoints (``vault``; ``blob``, ``file`` ...)."""
    url: str
    resource_id: str


@dataclass(frozen=True)
class Kind:
    """A resource type whose endpoints values point at."""

    resource_type: str
    noun: str
    """What a user calls one (``vault``), for messages."""
    api_version: str
    endpoints: Callable[[Mapping[str, Any]], Mapping[str, str]]
    """``properties -> {label: url}`` (a vault's ``vaultUri``, an account's
    ``primaryEndpoints``)."""


VAULTS = Kind(
    "Microsoft.KeyVault/vaults",
    "vault",
    "2023-07-01",
    lambda props: {"vault": str(props.get("vaultUri") or "")},
)
STORAGE_ACCOUNTS = Kind(
    "Microsoft.Storage/storageAccounts",
    "storage account",
    "2023-05-01",
    lambda props: {
        k: v for k, v in (props.get("primaryEndpoints") or {}).items() if isinstance(v, str)
    },
)


def endpoints(context: SideContext, kind: Kind) -> list[Endpoint]:
    """Every endpoint of ``kind``'s resources on the side, read once per run."""
    from atg_dataplane.inventory import arm_client

    def load() -> list[Endpoint]:
        client = arm_client(context)

        def read(generic: Any) -> list[Endpoint]:
            try:
                full = client.resources.get_by_id(generic.id, api_version=kind.api_version)
            except HttpResponseError as exc:  # one unreadable resource hides only itself
                log.warning("counterparts: %s unreadable (%s)", generic.id, exc.status_code)
                return []
            return [
                Endpoint(str(generic.name), label, url, str(generic.id))
                for label, url in kind.endpoints(full.properties or {}).items()
                if isinstance(url, str) and url
            ]

        listed = client.resources.list(filter=f"resourceType eq '{kind.resource_type}'")
        return [e for found in read_ahead(read, listed) for e in found]

    listed: list[Endpoint] = context.cached_client(f"counterparts:{kind.resource_type}", load)
    return listed


def owner(context: SideContext, kind: Kind, url: str) -> Endpoint | None:
    """The endpoint of the side's resource that ``url`` points into (longest prefix)."""
    low = url.lower()
    matches = [
        e
        for e in endpoints(context, kind)
        if low == e.url.lower().rstrip("/") or low.startswith(e.url.lower().rstrip("/") + "/")
    ]
    return max(matches, key=lambda e: len(e.url), default=None)


def named(context: SideContext, kind: Kind, name: str, label: str) -> Endpoint | None:
    """The side's endpoint ``label`` of the resource called ``name``."""
    return next(
        (
            e
            for e in endpoints(context, kind)
            if e.name.lower() == name.lower() and e.label == label
        ),
        None,
    )


def counterpart(
    source: ResourceBinding, target: ResourceBinding, kind: Kind, name: str, label: str
) -> Endpoint:
    """The target's endpoint ``label`` of the source resource ``name``'s counterpart;
    an :class:`ItemError` with the remedy when the target has none."""
    wanted = source.context.target_name(name)
    found = named(target.context, kind, wanted, label)
    if found is None:
        raise ItemError(
            f"no {kind.noun} {wanted!r} in the target for the reference to {name!r}",
            remedy="create it (Terraform) or map its name under [mapping.names]",
        )
    return found


def repoint_url(source: ResourceBinding, target: ResourceBinding, kind: Kind, url: str) -> str:
    """``url`` (inside a source resource of ``kind``) pointing at the same path inside the
    counterpart; unchanged when it points at no source resource of ``kind``."""
    found = owner(source.context, kind, url)
    if found is None:
        return url
    base = found.url.rstrip("/")
    there = counterpart(source, target, kind, found.name, found.label)
    return there.url.rstrip("/") + url[len(base) :]


def mapped_url(binding: ResourceBinding, kind: Kind, url: str) -> str:
    """For comparing both sides: ``url`` as ``{counterpart name}:{label}{path}`` (the
    source's resource already mapped to its target name); unchanged when it points at no
    resource of ``kind`` on the side."""
    found = owner(binding.context, kind, url)
    if found is None:
        return url
    name = found.name
    if binding.side == "source":
        name = binding.context.target_name(name)
    return f"{name.lower()}:{found.label}{url[len(found.url.rstrip('/')) :]}"
