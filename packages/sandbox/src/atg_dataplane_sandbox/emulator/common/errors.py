"""Error responses shaped like Azure's: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web


class AzureError(Exception):
    """Raised anywhere in a handler; the error middleware turns it into Azure's JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        inner_code: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.inner_code = inner_code

    def response(self) -> web.Response:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code}
        return json_response({"error": error}, status=self.status, headers=self.headers)


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def not_found(code: str, message: str) -> AzureError:
    return AzureError(404, code, message)


def bad_request(message: str, code: str = "BadRequest") -> AzureError:
    return AzureError(400, code, message)
