"""Anthropic Messages dialect in: ``/v1/messages`` (streaming too) and ``count_tokens``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.errors import BadRequest
from node.json_io import json_response, read_object
from node.serve import Exchange
from node.serve.policy import has_default_model


async def _message_body(request: web.Request, exchange: Exchange | None = None
                        ) -> tuple[dict[str, Any], str]:
    """The body and the model it names ("" for the key's default model when it has one)."""
    body = await read_object(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if exchange is not None and has_default_model(exchange):
            return body, ""
        raise BadRequest("model: Field required", param="model")
    return body, model


async def messages(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, "anthropic", "chat") as exchange:
        body, model = await _message_body(request, exchange)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("stream: Input should be a valid boolean", param="stream")
        return await exchange.chat(body, model, stream=stream)


async def count_tokens(request: web.Request) -> web.Response:
    """Exact when the upstream is Anthropic; otherwise the provider's documented estimate.
    Not an upstream call for accounting: it uses no tokens."""
    async with Exchange(request, "anthropic", "count_tokens") as exchange:
        body, model = await _message_body(request)
        exchange.spec.check_request(body, count_only=True)  # no max_tokens in counting
        route = exchange.admit(exchange.resolve(model))
        tokens = await route.provider.count_tokens(
            body, route.model, headers=exchange.forwarded_headers())
        return json_response({"input_tokens": tokens})


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/v1/messages", messages)
    app.router.add_post(f"{base}/v1/messages/count_tokens", count_tokens)
