"""Errors shaped as Cosmos DB's data plane answers them."""

from __future__ import annotations

import json
import uuid

from aiohttp import web


def cosmos_error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    plain: bool = False,
) -> web.Response:
    """Cosmos DB's error body; ``plain`` for the gateway's own (authorization) errors, whose
    message is text, not ``Message: {"Errors": [...]}``."""
    activity = str(uuid.uuid4())
    if plain:
        text = f"{message}\r\nActivityId: {activity}, Microsoft.Azure.Documents.Common/2.14.0"
    else:
        text = f"Message: {json.dumps({'Errors': [message]})}\r\nActivityId: {activity}"
    return web.Response(
        status=status,
        body=json.dumps({"code": code, "message": text}).encode(),
        headers={
            "Content-Type": "application/json",
            "x-ms-activity-id": activity,
            "x-ms-request-charge": "0",
            **(headers or {}),
        },
    )
