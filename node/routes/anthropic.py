"""Anthropic Messages dialect in: ``/v1/messages`` (streaming too) and ``count_tokens``."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from node.errors import BadRequest, Forbidden
from node.exchange import authenticate, client_headers, read_json, serve
from node.keys import model_allowed
from node.state import GATEWAY


async def _message_body(request: web.Request) -> tuple[dict[str, Any], str]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
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
    route = request.app[GATEWAY].catalog.resolve(model)
    if not model_allowed(key, route.provider_key, route.model):
        raise Forbidden(
            f"This API key may not use '{route.provider_key}/{route.model}'", param="model"
        )
    tokens = await route.provider.count_tokens(
        body, route.model, headers=client_headers(request, "anthropic"))
    return web.Response(
        body=orjson.dumps({"input_tokens": tokens}), content_type="application/json"
    )


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/v1/messages", messages)
    app.router.add_post(f"{base}/v1/messages/count_tokens", count_tokens)
