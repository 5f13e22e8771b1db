"""JSON in and out of aiohttp: request bodies read once with clear errors, answers encoded
with orjson. Shared by the gateway routes and the admin API."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import PayloadEncodingError

from node.errors import BadRequest, RequestTimeout
from node.state import GATEWAY

__all__ = ["json_response", "read_json", "read_object"]


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 413 past ``server.max_body_bytes``, 408 when it takes longer
    than ``server.body_timeout`` to arrive, 400 if malformed or its encoding is."""
    try:
        if request.content.is_eof():
            raw = await request.read()  # all here already (the common case): no timer to arm
        else:
            raw = await _read_within(request)
    except (web.RequestPayloadError, PayloadEncodingError):
        # The rest of the body is unreadable: close the connection after the 400, and mark
        # the body read, or aiohttp drains it after the answer and logs the decoding error
        # as an unhandled exception (a trace in the log for every such request).
        request.protocol.close()
        request.content.feed_eof()
        raise BadRequest("The request body could not be decoded: check its Content-Encoding "
                         "and framing") from None
    if not raw:
        raise BadRequest("The request body is empty: expected a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.msg}") from None


async def _read_within(request: web.Request) -> bytes:
    timeout = float(request.app[GATEWAY].settings.server.body_timeout)
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {timeout:g} s") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 for anything else)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body
