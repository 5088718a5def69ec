"""The ARM resource tree: every nested resource type declared as a
:class:`~atg_dataplane_sandbox.emulator.common.providers.ChildType` is served from its
declaration here, at any depth (``service/apis/{a}/operations/{o}``).

Shapes and status codes follow the Azure REST API specifications: lists are pages with
``nextLink``; PUT answers 201 when it created and 200 when it replaced (or 202 with
``Azure-AsyncOperation``/``Location`` when the type is long-running); DELETE answers 200,
or 204 when there was nothing to delete; an ETag'd type honours ``If-Match`` and
``If-None-Match`` with 412 ``PreconditionFailed``; a missing parent is 404
``ParentResourceNotFound``; errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common import providers
from atg_dataplane_sandbox.emulator.common.arm import (
    ArmContext,
    paged,
    read_json_body,
    start_operation,
)
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.providers import ChildType


async def handle(
    ctx: ArmContext, parent_type: str, parent: dict[str, Any], rest: list[str]
) -> web.StreamResponse | None:
    """Answer ``rest`` (the path segments below ``parent``) when its first segment is a
    declared type below ``parent_type``; None when it is not (a provider's own paths)."""
    child = providers.child_type(parent_type, rest[0])
    if child is None:
        return None
    _check_api_version(ctx, child)
    if len(rest) == 1:
        return _list(ctx, child, parent)
    item_id = f"{parent['id']}/{child.name}/{rest[1]}"
    if len(rest) == 2:
        return await _item(ctx, child, parent, rest[1], item_id)
    item = _found(ctx, child, parent, item_id, rest[1])
    if len(rest) == 3 and child.reveal and rest[2].lower() == child.reveal.lower():
        if ctx.request.method != "POST":
            raise _method(ctx)
        ctx.require(f"{child.full_type}/{child.reveal}/action", item_id)
        if child.private:
            if item["name"].lower() not in child.private:
                raise _method(ctx)
            return json_response(copy.deepcopy(item))
        return json_response({key: item["properties"].get(key) for key in child.secrets})
    return await handle(ctx, child.full_type, item, rest[2:])


def delete_below(ctx: ArmContext, resource_id: str) -> None:
    """Drop every declared item below ``resource_id`` (its parent is being deleted)."""
    prefix = resource_id.lower() + "/"
    for section in {child.section for child in providers.all_children()}:
        stored = ctx.section(section)
        for key in [key for key in stored if key.startswith(prefix)]:
            del stored[key]
    ctx.touch()


# -- collection and item ----------------------------------------------------------------
def _list(ctx: ArmContext, child: ChildType, parent: dict[str, Any]) -> web.Response:
    if ctx.request.method != "GET":
        raise _method(ctx)
    ctx.require(f"{child.full_type}/read", f"{parent['id']}/{child.name}")
    items = sorted(_items(ctx, child, parent).values(), key=lambda item: item["id"].lower())
    if child.one_page:
        return json_response({"value": [_present(child, item) for item in items]})
    return paged(ctx, items, lambda item: _present(child, item))


async def _item(
    ctx: ArmContext, child: ChildType, parent: dict[str, Any], name: str, item_id: str
) -> web.StreamResponse:
    method = ctx.request.method
    found = _one(ctx, child, parent, item_id)
    if method in ("GET", "HEAD"):
        ctx.require(f"{child.full_type}/read", item_id)
        item = found if found is not None else _found(ctx, child, parent, item_id, name)
        if method == "HEAD":
            return web.Response(status=child.head_status, headers=_etag_header(item))
        return json_response(_present(child, item), headers=_etag_header(item))
    if method in ("PUT", "PATCH"):
        ctx.require(f"{child.full_type}/write", item_id)
        return _put(ctx, child, parent, name, item_id, found)
    if method == "DELETE":
        ctx.require(f"{child.full_type}/delete", item_id)
        _refuse_read_only(child, name, "deleted")
        if found is not None:  # deleting what is not there is 204, whatever If-Match says
            _preconditions(ctx, child, found)
            if child.on_delete is not None:
                child.on_delete(ctx, found)
            delete_below(ctx, item_id)
            ctx.section(child.section).pop(item_id.lower(), None)
            ctx.touch()
        style = child.lro if child.delete_lro is None else child.delete_lro
        if style:
            return _operation(ctx, child, parent, item_id, None, "DELETE", style, 202)
        return web.Response(status=200 if found is not None else 204)
    raise _method(ctx)


def _put(
    ctx: ArmContext,
    child: ChildType,
    parent: dict[str, Any],
    name: str,
    item_id: str,
    found: dict[str, Any] | None,
) -> web.StreamResponse:
    if child.names and name.lower() not in {n.lower() for n in child.names}:
        raise AzureError(
            400,
            "InvalidResourceName",
            f"The name '{name}' is not valid for {child.full_type}: use "
            + " or ".join(f"'{n}'" for n in child.names)
            + ".",
        )
    _refuse_read_only(child, name, "changed")
    if ctx.request.method == "PATCH" and found is None:
        _found(ctx, child, parent, item_id, name)
    _preconditions(ctx, child, found)
    body = ctx.body if ctx.body is not None or not child.empty_body else {}
    request = read_json_body(body)
    properties = dict(request.get("properties") or {})
    if ctx.request.method == "PATCH" and found is not None:
        properties = {**found["properties"], **properties}
    if child.shape is not None:
        properties = child.shape(ctx, parent, found, properties)
    item: dict[str, Any] = {
        "id": found["id"] if found else item_id,
        "name": found["name"] if found else name,
        "type": child.full_type,
        "properties": properties,
    }
    # tracked child resources (a SQL database) carry these beside their properties
    for field in ("location", "sku", "tags"):
        if field in request:
            item[field] = request[field]
        elif found is not None and field in found:
            item[field] = found[field]
    if child.etag:
        item["etag"] = f'"{uuid.uuid4().hex}"'
    ctx.section(child.section)[item_id.lower()] = item
    ctx.touch()
    if child.lro:
        body = None if child.lro_status == 202 else _present(child, item)
        return _operation(ctx, child, parent, item_id, body, "PUT", child.lro, child.lro_status)
    status = 200 if found is not None else child.created_status
    return json_response(_present(child, item), status=status, headers=_etag_header(item))


# -- helpers -------------------------------------------------------------------------------
def _items(ctx: ArmContext, child: ChildType, parent: dict[str, Any]) -> dict[str, Any]:
    """The parent's items of this type by lower-case id, built-ins included."""
    stored = ctx.section(child.section)
    found = {key: stored[key] for key in stored.below(f"{parent['id']}/{child.name}".lower())}
    if child.builtins is not None:
        found.update({item["id"].lower(): item for item in child.builtins(ctx, parent)})
    return found


def _one(
    ctx: ArmContext, child: ChildType, parent: dict[str, Any], item_id: str
) -> dict[str, Any] | None:
    """The parent's item of this id, or None: looked up by its key, not found in a walk of
    the section (a walk per request made a run's requests quadratic in the tenant's size)."""
    wanted = item_id.lower()
    if child.builtins is not None:  # as in _items: a built-in wins over a stored item
        for item in child.builtins(ctx, parent):
            if item["id"].lower() == wanted:
                return item
    return ctx.section(child.section).get(wanted)


def _found(
    ctx: ArmContext, child: ChildType, parent: dict[str, Any], item_id: str, name: str
) -> dict[str, Any]:
    item = _one(ctx, child, parent, item_id)
    if item is None:
        raise AzureError(
            404,
            "ResourceNotFound",
            f"The Resource '{child.full_type}/{name}' under '{parent['id']}' was not found.",
        )
    return item


def _present(child: ChildType, item: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(item)
    if item["name"].lower() in child.private:
        shown["properties"] = {}
    if child.hide_secrets is None or child.hide_secrets(shown["properties"]):
        for key in child.secrets:
            shown["properties"].pop(key, None)
    return shown


def _etag_header(item: dict[str, Any]) -> dict[str, str]:
    return {"ETag": item["etag"]} if "etag" in item else {}


def _preconditions(ctx: ArmContext, child: ChildType, found: dict[str, Any] | None) -> None:
    if not child.etag:
        return
    if_match = ctx.request.headers.get("If-Match")
    if_none_match = ctx.request.headers.get("If-None-Match")
    current = found.get("etag") if found else None
    if if_match is not None and (
        current is None or (if_match.strip() != "*" and if_match.strip() != current)
    ):
        raise _precondition(child)
    if if_none_match is not None and found is not None and (
        if_none_match.strip() == "*" or if_none_match.strip() == current
    ):
        raise _precondition(child)


def _precondition(child: ChildType) -> AzureError:
    return AzureError(
        412,
        "PreconditionFailed",
        f"The {child.full_type} has changed (its ETag does not match If-Match, or it exists "
        "and If-None-Match forbids it). Read it again and retry.",
    )


def _refuse_read_only(child: ChildType, name: str, verb: str) -> None:
    if name.lower() in {n.lower() for n in child.read_only}:
        raise AzureError(400, "BadRequest", f"The built-in {child.name} '{name}' cannot be {verb}.")


def _check_api_version(ctx: ArmContext, child: ChildType) -> None:
    if child.api_versions and ctx.api_version not in child.api_versions:
        raise AzureError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for API version '{ctx.api_version}' and "
            f"type '{child.full_type}'. The supported api-versions are "
            f"'{', '.join(child.api_versions)}'.",
        )


def _operation(
    ctx: ArmContext,
    child: ChildType,
    parent: dict[str, Any],
    item_id: str,
    body: Any,
    method: str,
    style: str,
    status: int,
) -> web.Response:
    location = parent.get("location") or "eastus"
    only = style == "location"
    return start_operation(
        ctx, child.namespace, location, item_id, body, status, method, location_only=only
    )


def _method(ctx: ArmContext) -> AzureError:
    return AzureError(
        405, "MethodNotAllowed", f"The method '{ctx.request.method}' is not allowed."
    )
