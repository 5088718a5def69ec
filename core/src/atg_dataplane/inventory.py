"""Which resources to copy, and their counterparts in the target tenant.

The source inventory comes from ARM (subscription, optional resource groups,
type filters), from a JSON file (``az resource list`` output or an ATG
export), or from ATG's Neo4j graph. Each source resource is paired with the
resource of the same type and (mapped) name in the target subscription; a
resource without a counterpart is reported, never guessed.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError

from atg_dataplane.config import ConfigError, ReplicationConfig
from atg_dataplane.context import ResourceBinding, SideContext
from atg_dataplane.coverage import DATA_PLANE_TYPES, install_hint, unserved_counts
from atg_dataplane.models import AzureResource, ResourceTypeSpec
from atg_dataplane.plugins import PluginHost


@dataclass
class ResourcePair:
    source: ResourceBinding
    target: ResourceBinding | None
    spec: ResourceTypeSpec
    plugin: str
    problem: str = ""
    """Why there is no target (reported, and the resource is skipped)."""


def arm_client(context: SideContext) -> Any:
    from azure.mgmt.resource.resources import ResourceManagementClient

    return context.cached_client(
        "arm",
        lambda: ResourceManagementClient(
            context.credential, context.subscription_id, **context.arm_kwargs()
        ),
    )


def _served_types(host: PluginHost, config: ReplicationConfig) -> list[ResourceTypeSpec]:
    served = {key: spec for key, (_, spec) in host.types.items()}
    if not config.types:
        return list(served.values())
    chosen = []
    for wanted in config.types:
        spec = served.get(wanted.lower())
        if spec is None:
            known = ", ".join(sorted(s.resource_type for s in served.values())) or "none installed"
            raise ConfigError(
                f"unknown resource type {wanted!r}: installed plugins serve {known} "
                f"({install_hint(wanted)})"
            )
        chosen.append(spec)
    return chosen


def read_inventory_file(path: Path) -> list[dict[str, Any]]:
    """Resources from ``az resource list`` output or an ATG export."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"inventory file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read inventory file {str(path)!r}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"inventory file {str(path)!r} is not valid JSON (line {exc.lineno})"
        ) from None
    if isinstance(data, dict):
        data = data.get("resources", data.get("value", data.get("nodes")))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError(
            f"inventory file {str(path)!r} must be a list of resources "
            "(the output of `az resource list`) or an object with a 'resources' list"
        )
    return data


def iter_source_resources(
    host: PluginHost, config: ReplicationConfig, source: SideContext
) -> Iterator[tuple[AzureResource, ResourceTypeSpec]]:
    """Stream the source resources that an installed plugin serves."""
    for load, spec in _source_refs(host, config, source):
        yield load(), spec


Loader = Callable[[], AzureResource]


def _source_refs(
    host: PluginHost, config: ReplicationConfig, source: SideContext
) -> Iterator[tuple[Loader, ResourceTypeSpec]]:
    """Source resources as loaders: the full ARM read of each happens when called."""
    specs = _served_types(host, config)
    by_type = {s.key: s for s in specs}
    if config.inventory:
        if config.inventory.startswith(("neo4j", "bolt")):
            from atg_dataplane.neo4j_inventory import read_neo4j_inventory

            raws: Iterable[dict[str, Any]] = read_neo4j_inventory(
                config.inventory, config.source.subscription_id
            )
        else:
            raws = read_inventory_file(Path(config.inventory))
        for raw in raws:
            try:
                resource = AzureResource.from_arm(raw)
            except ValueError as exc:
                raise ConfigError(f"inventory file {config.inventory!r}: {exc}") from None
            spec = by_type.get(resource.type.lower())
            if spec is None or not _in_scope(resource, config):
                continue
            if resource.properties:
                yield functools.partial(_as_is, resource), spec
            else:
                yield functools.partial(_get_full, source, resource.id, spec), spec
        return
    client = arm_client(source)
    for spec in specs:
        for listing in _listings(client, config, spec.resource_type):
            try:
                for generic in listing:
                    yield functools.partial(_get_full, source, generic.id, spec), spec
            except HttpResponseError as error:
                if error.status_code in (401, 403):
                    raise ConfigError(side_refused("source", config.source, error)) from None
                raise


def unserved(host: PluginHost, config: ReplicationConfig, source: SideContext) -> Counter[str]:
    """Source resources in scope whose type has a data plane but no installed plugin, by
    type (:mod:`atg_dataplane.coverage`). None when the config names its types: the others
    are left out on purpose."""
    if config.types:
        return Counter()
    served = set(host.types)
    missing = [t for t in DATA_PLANE_TYPES if t.lower() not in served]
    if not missing:
        return Counter()
    if config.inventory:
        if config.inventory.startswith(("neo4j", "bolt")):
            return Counter()  # the graph is asked per served type only
        types = []
        for raw in read_inventory_file(Path(config.inventory)):
            with contextlib.suppress(ValueError):
                resource = AzureResource.from_arm(raw)
                if _in_scope(resource, config):
                    types.append(resource.type)
        return unserved_counts(types, served)
    client = arm_client(source)
    found: list[str] = []
    for resource_type in missing:
        for listing in _listings(client, config, resource_type):
            try:
                found += [resource_type for _ in listing]
            except HttpResponseError as error:
                if error.status_code in (401, 403, 404):
                    continue  # not ours to report: the served types' listing says why
                raise
    return unserved_counts(found, served)


def _listings(client: Any, config: ReplicationConfig, resource_type: str) -> list[Any]:
    """The source's resources of one type, per source resource group (or the whole
    subscription): pages, read when iterated."""
    filter_ = f"resourceType eq '{resource_type}'"
    groups = source_groups(config)
    if groups:
        return [client.resources.list_by_resource_group(g, filter=filter_) for g in groups]
    return [client.resources.list(filter=filter_)]


def _as_is(resource: AzureResource) -> AzureResource:
    return resource


def _in_scope(resource: AzureResource, config: ReplicationConfig) -> bool:
    """An inventory may list the whole tenant: keep the source subscription and groups."""
    if resource.subscription_id.lower() != config.source.subscription_id.lower():
        return False
    groups = {g.lower() for g in config.source.resource_groups}
    return not groups or resource.resource_group.lower() in groups


def source_groups(config: ReplicationConfig) -> tuple[str, ...]:
    return config.source.resource_groups


def _get_full(context: SideContext, resource_id: str, spec: ResourceTypeSpec) -> AzureResource:
    client = arm_client(context)
    api_version = spec.arm_api_version or "2022-09-01"
    generic = client.resources.get_by_id(resource_id, api_version=api_version)
    data = dict(generic) if isinstance(generic, Mapping) else generic.as_dict()
    return AzureResource.from_arm(data)


def target_id(source: AzureResource, config: ReplicationConfig) -> str:
    name = config.target_name(source.name)
    known = config.target_ids.get(f"{source.type}/{name}".lower())
    if known:
        return known
    group = config.target.resource_group or source.resource_group
    return (
        f"/subscriptions/{config.target.subscription_id}/resourceGroups/{group}"
        f"/providers/{source.type}/{config.target_name(source.name)}"
    )


def find_target(
    source: AzureResource, spec: ResourceTypeSpec, config: ReplicationConfig, target: SideContext
) -> tuple[AzureResource | None, str]:
    from azure.core.exceptions import ResourceNotFoundError

    wanted = target_id(source, config)
    if wanted.lower() == source.id.lower():
        raise ConfigError(
            f"{source.id} is both the source and the target: map it to another name "
            "([mapping.names]) or point [target] at another resource group or subscription"
        )
    try:
        return _get_full(target, wanted, spec), ""
    except ResourceNotFoundError:
        return None, (
            f"no counterpart of {source.name} in the target: expected {wanted}; create it "
            "(Terraform) or map the name under [mapping.names]"
        )
    except HttpResponseError as error:
        if error.status_code in (401, 403):
            raise ConfigError(side_refused("target", config.target, error)) from None
        raise


def side_refused(side: str, config: Any, error: Any) -> str:
    """One line for a side whose principal may not read where the config points it."""
    code = getattr(getattr(error, "error", None), "code", None) or error.reason or ""
    return (
        f"{side} subscription {config.subscription_id}: the {side} principal may not list or "
        f"read resources there ({error.status_code} {code}): check {side}.subscription_id "
        f"and {side}.resource_group{'s' if side == 'source' else ''}, or grant it Reader"
    )


PAIRING_PARALLELISM = 8


def iter_pairs(
    host: PluginHost,
    config: ReplicationConfig,
    source: SideContext,
    target: SideContext,
) -> Iterator[ResourcePair]:
    """Pairs in listing order; the ARM reads of both sides run a few at a time."""

    def pair(ref: tuple[Loader, ResourceTypeSpec]) -> ResourcePair:
        load, spec = ref
        resource = load()
        owner = host.owner(spec.resource_type)
        assert owner is not None
        counterpart, problem = find_target(resource, spec, config, target)
        return ResourcePair(
            source=ResourceBinding(resource, source),
            target=ResourceBinding(counterpart, target) if counterpart else None,
            spec=spec,
            plugin=owner[0],
            problem=problem,
        )

    with ThreadPoolExecutor(PAIRING_PARALLELISM, thread_name_prefix="atg-pair") as pool:
        window: deque[Future[ResourcePair]] = deque()
        for ref in _source_refs(host, config, source):
            window.append(pool.submit(pair, ref))
            if len(window) >= PAIRING_PARALLELISM * 2:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
