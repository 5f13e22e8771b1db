"""Anthropic Messages dialect in: ``/v1/messages`` (streaming too) and ``count_tokens``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.errors import BadRequest
from node.exchange import (
    allowed_route,
    authenticate,
    client_headers,
    json_response,
    read_object,
    serve,
)


async def _message_body(request: web.Request) -> tuple[dict[str, Any], str]:
    body = await read_object(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", param="model")
    return body, model


async def messages(request: web.Request) -> web.StreamResponse:
    key = authenticate(request)
    body, model = await _message_body(request)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("stream: Input should be a valid boolean", param="stream")
    return await serve(request, "anthropic", body, model, stream=stream, key=key)


async def count_tokens(request: web.Request) -> web.Response:
    """Exact when the upstream is Anthropic; otherwise the provider's documented estimate."""
    key = authenticate(request)
    body, model = await _message_body(request)
    route = allowed_route(request, key, model)
    tokens = await route.provider.count_tokens(
        body, route.model, headers=client_headers(request, "anthropic"))
    return json_response({"input_tokens": tokens})


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/v1/messages", messages)
    app.router.add_post(f"{base}/v1/messages/count_tokens", count_tokens)
