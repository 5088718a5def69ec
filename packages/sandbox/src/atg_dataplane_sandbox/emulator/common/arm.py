"""What every ARM handler needs: the caller, authorization, paging and LROs."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.context import Emulator
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.store import Section
from atg_dataplane_sandbox.emulator.common.tokens import Claims
from atg_dataplane_sandbox.topology import Tenant


@dataclass
class ArmContext:
    request: web.Request
    emu: Emulator
    claims: Claims
    tenant: Tenant | None = None
    """Tenant owning the subscription in the path (None for tenant-level calls)."""
    body: Any = None

    @property
    def subscription_id(self) -> str:
        assert self.tenant is not None
        return self.tenant.subscription_id

    @property
    def api_version(self) -> str:
        return self.request.query.get("api-version", "")

    @property
    def store(self) -> dict[str, Any]:
        return self.emu.store.data

    def section(self, name: str) -> Section:
        return self.emu.store.section(name)

    def touch(self) -> None:
        self.emu.store.touch()

    # -- authorization -----------------------------------------------------------------
    def assignments(self) -> list[dict[str, Any]]:
        return list(self.section("role_assignments").values())

    def permissions(self, scope: str) -> list[dict[str, list[str]]]:
        return rbac.permissions_at(
            self.assignments(), self.claims.object_id, scope, self.section("role_definitions")
        )

    def require(self, action: str, scope: str) -> None:
        if not rbac.is_allowed(self.permissions(scope), action):
            oid = self.claims.object_id
            raise AzureError(
                403,
                "AuthorizationFailed",
                (
                    f"The client '{self.claims.app_id}' with object id '{oid}' does not have "
                    f"authorization to perform action '{action}' over scope '{scope}' or the scope "
                    "is invalid. If access was recently granted, please refresh your credentials."
                ),
            )


MAX_OPERATIONS = 2000


def require_account_key(
    ctx: ArmContext, backend: str, resource: dict[str, Any], *, code: str, missing: str
) -> str:
    """The key of the account's backend in this sandbox (``secrets/<backend>/<name>``), or
    the 409 ``code`` with the message ``missing`` when the account has no backend here."""
    key = ctx.emu.read_account_key(backend, resource["name"])
    if key is None:
        raise AzureError(409, code, missing.format(name=resource["name"]))
    return key


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())


def read_json_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AzureError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        )
    return body


def paged(
    ctx: ArmContext, items: Sequence[Any], present: Callable[[Any], Any] | None = None
) -> web.Response:
    """One page of ``items`` with a ``nextLink`` built from the request URL (``$skiptoken``),
    each shown through ``present`` when given (only the page's, not every item per page)."""
    size = ctx.emu.options.arm_page_size
    try:
        skip = int(ctx.request.query.get("$skiptoken", "0"))
    except ValueError:
        raise AzureError(400, "InvalidSkipToken", "The skip token is invalid.") from None
    top = ctx.request.query.get("$top")
    limit = min(size, int(top)) if top and top.isdigit() else size
    page = items[skip : skip + limit]
    body: dict[str, Any] = {"value": [present(i) for i in page] if present else list(page)}
    if skip + limit < len(items):
        base = ctx.emu.urls["arm"]
        body["nextLink"] = base + str(
            ctx.request.rel_url.update_query({"$skiptoken": str(skip + limit)})
        )
    return json_response(body)


_TYPE_FILTER = re.compile(r"resourceType\s+eq\s+'([^']+)'", re.I)
_NAME_FILTER = re.compile(r"\bname\s+eq\s+'([^']+)'", re.I)


def filter_resources(items: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    if not text:
        return items
    types = {t.lower() for t in _TYPE_FILTER.findall(text)}
    names = {n.lower() for n in _NAME_FILTER.findall(text)}
    return [
        item
        for item in items
        if (not types or item["type"].lower() in types)
        and (not names or item["name"].lower() in names)
    ]


def start_operation(
    ctx: ArmContext,
    namespace: str,
    location: str,
    resource_id: str,
    body: Any,
    status: int,
    method: str,
    location_only: bool = False,
    result: Any = None,
) -> web.Response:
    """Answer with a long-running operation that completes on its first poll; a POST's
    ``result`` (a disk's access SAS) is what its ``Location`` answers at the end."""
    op_id = str(uuid.uuid4())
    operations = ctx.section("operations")
    while len(operations) >= MAX_OPERATIONS:  # oldest first (dicts keep insertion order)
        del operations[next(iter(operations))]
    operations[op_id] = {
        "id": op_id,
        "resourceId": resource_id,
        "status": "InProgress",
        "startTime": now_iso(),
        "method": method,
    }
    if result is not None:
        operations[op_id]["result"] = result
    ctx.touch()
    base = (
        f"{ctx.emu.urls['arm']}/subscriptions/{ctx.subscription_id}/providers/{namespace}"
        f"/locations/{location}"
    )
    query = f"?api-version={ctx.api_version}"
    headers = {"Retry-After": str(int(ctx.emu.options.lro_retry_after))}
    if not location_only:
        headers["Azure-AsyncOperation"] = f"{base}/operationStatuses/{op_id}{query}"
    if method in ("POST", "DELETE") or location_only:
        headers["Location"] = f"{base}/operationResults/{op_id}{query}"
    if body is None:
        return web.Response(status=status, headers=headers)
    return json_response(body, status=status, headers=headers)


def operation_status(ctx: ArmContext, op_id: str, results: bool) -> web.Response:
    op = ctx.section("operations").get(op_id)
    if op is None:
        raise AzureError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    if op["status"] == "InProgress":
        op["status"] = "Succeeded"
        op["endTime"] = now_iso()
        ctx.touch()
    if results:
        # Location polling ends here: a PUT's Location answers with the resource (Storage).
        resource = ctx.section("resources").get(op["resourceId"].lower())
        if op.get("method") == "PUT" and resource is not None:
            return json_response(resource)
        if "result" in op:
            return json_response(op["result"])
        return web.Response(status=204)
    return json_response(
        {
            "id": op_id,
            "name": op_id,
            "status": op["status"],
            "startTime": op["startTime"],
            "endTime": op.get("endTime"),
        }
    )
