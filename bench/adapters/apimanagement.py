"""API Management: every entity of the service, written through ARM.

The baseline is what users run today, APIOps' extractor and publisher in one loop: each
entity read from the source and put into the target, one after another, in dependency
order (named values before policies, APIs before operations); secrets read with
``listValue``/``listSecrets``. The ceiling puts each entity once, on many threads, a
dependency level at a time. Both use azure-mgmt-apimanagement with the tool's credentials;
the entity table (what to list, how to put) is the plugin's, the writes are not.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from atg_dataplane_apimanagement.entities import (
    KINDS,
    NO_PFX,
    POLICY,
    REVISION,
    Kind,
    builtin,
    not_copyable,
    paths,
    rebase,
)
from azure.mgmt.apimanagement import ApiManagementClient, models

from adapters import Task, arm_client, where

RESOURCE_TYPE = "Microsoft.ApiManagement/service"
LEVELS = {
    "policy_fragment": 1,
    "diagnostic": 1,
    "api": 1,
    "group_user": 1,
    "product_group": 1,
    "product_tag": 1,
    "global_policy": 2,
    "product_policy": 2,
    "schema": 3,
    "release": 3,
    "api_diagnostic": 3,
    "gateway_api": 3,
    "product_api": 3,
    "api_tag": 3,
    "api_policy": 3,
    "subscription": 3,
    "operation": 4,
    "operation_policy": 5,
    "operation_tag": 5,
}
"""Dependency level of each kind (0 when absent): a level starts when the one before ends.
An API's revision is one level after the API (2): what sits below APIs is at 3 and on."""


def _level(kind: Kind, path: tuple[str, ...]) -> int:
    return LEVELS.get(kind.name, 0) + (kind.name == "api" and REVISION in path[-1])


def _client(resource: Any, side: Any, pool: int | None = None) -> ApiManagementClient:
    client: ApiManagementClient = arm_client(ApiManagementClient, resource, side, pool)
    return client


class _Writer:
    def __init__(self, pair: Any, source: Any, target: Any, pool: int | None = None) -> None:
        self.pair = pair
        self.source = _client(pair.source, source, pool)
        self.target = _client(pair.target, target, pool)

    def entities(self) -> list[tuple[Kind, tuple[str, ...], Any]]:
        group, service = where(self.pair.source)
        found: dict[str, list[tuple[str, ...]]] = {}
        out = []
        for kind in KINDS:
            found[kind.name] = []
            for path, entity in paths(self.source, kind, group, service, found):
                found[kind.name].append(path)
                props = entity.serialize(keep_readonly=True).get("properties") or {}
                if not builtin(kind, path, props):  # not the target's own
                    out.append((kind, path, entity))
        return out

    def put(self, kind: Kind, path: tuple[str, ...], entity: Any) -> int:
        group, service = where(self.pair.target)
        operations = getattr(self.target, kind.operations)
        args = (*path, POLICY) if kind.policy else path
        if kind.link:
            getattr(operations, kind.put_method)(group, service, *args)
            return 0
        shown = entity.serialize(keep_readonly=True).get("properties") or {}
        if not_copyable(kind, shown) == NO_PFX:
            return 0  # an uploaded PFX is never readable: nobody can copy it
        props = dict(entity.serialize(keep_readonly=False).get("properties") or {})
        props = rebase(props, str(self.pair.source.id), str(self.pair.target.id))
        if kind.secrets and (not kind.secret_when or props.get(kind.secret_when)):
            src_group, src_service = where(self.pair.source)
            reveal = getattr(getattr(self.source, kind.operations), kind.reveal)
            props.update(reveal(src_group, src_service, *path).serialize(keep_readonly=True))
        body = getattr(models, kind.model).deserialize({"properties": props})
        if kind.lro:
            getattr(operations, "begin_" + kind.put_method)(
                group, service, *args, body, polling_interval=0.5
            ).result()
        else:
            getattr(operations, kind.put_method)(group, service, *args, body)
        return 0


class ApiManagementAdapter:
    resource_type = RESOURCE_TYPE
    kinds = tuple(kind.name for kind in KINDS)
    server_side_kinds: tuple[str, ...] = ()

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        writer = _Writer(pair, source, target)
        for kind, path, entity in writer.entities():  # already in dependency order
            tally.add(kind.name, writer.put(kind, path, entity))

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        writer = _Writer(pair, source, target, pool)
        return [
            Task(
                kind.name,
                "/".join(path) or "service",
                lambda k=kind, p=path, e=entity: writer.put(k, p, e),
                phase=_level(kind, path),
            )
            for kind, path, entity in writer.entities()
        ]

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        from atg_dataplane_sandbox.seed import context
        from atg_dataplane_sandbox.seeders.apimanagement import create_service

        ctx = context(sandbox_dir)
        fresh = {name: f"{name}-{tag}"[:50] for name in names}
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: create_service(ctx, "target", n), fresh.values()))
        return fresh

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        from atg_dataplane_sandbox.seed import context

        ctx = context(sandbox_dir)
        client = ctx.mgmt(ApiManagementClient, "target")
        for name in names:
            client.api_management_service.begin_delete(
                ctx.resource_groups["target"], name, polling_interval=0.1
            ).result()


ADAPTER = ApiManagementAdapter()
