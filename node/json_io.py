"""JSON in and out of aiohttp: request bodies read once with clear errors, answers encoded
with orjson. Shared by the gateway routes and the admin API."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from node.errors import BadRequest

__all__ = ["json_response", "read_json", "read_object"]


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 413 past ``server.max_body_bytes``, 400 if malformed."""
    raw = await request.read()
    if not raw:
        raise BadRequest("The request body is empty: expected a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.msg}") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 for anything else)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body
