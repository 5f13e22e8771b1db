"""OpenAI dialect: chat completions, embeddings and the model list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.errors import BadRequest
from node.json_io import json_response, read_object
from node.serve import Exchange


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a string", param="model")
    return model


async def chat_completions(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, "openai", "chat") as exchange:
        body = await read_object(request)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be a boolean", param="stream")
        return await exchange.chat(body, _model(body), stream=stream)


async def embeddings(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, "openai", "embeddings") as exchange:
        body = await read_object(request)
        route = exchange.admit(exchange.resolve(_model(body)))
        if not isinstance(body.get("input"), str | list):
            raise BadRequest("'input' must be a string or an array", param="input")
        reply = await exchange.call(route.provider.embed(body, route.model))
        exchange.settle(reply.usage, reply.status)
        return web.Response(body=reply.body, status=reply.status,
                            content_type="application/json")


async def list_models(request: web.Request) -> web.Response:
    """The key's models, in Anthropic's list shape for Anthropic clients (Claude Code's
    gateway model discovery), in OpenAI's otherwise."""
    async with Exchange(request, "openai", "models") as exchange:
        started = exchange.gateway.started
        models = exchange.visible_models()
    headers = request.headers
    anthropic = "anthropic-version" in headers or (
        "x-api-key" in headers and "Authorization" not in headers)
    if anthropic:
        created_at = datetime.fromtimestamp(int(started), UTC).isoformat().replace("+00:00", "Z")
        listed = [{"type": "model", "id": model_id, "display_name": model_id,
                   "created_at": created_at} for model_id, _ in models]
        return json_response({"data": listed, "has_more": False,
                              "first_id": listed[0]["id"] if listed else None,
                              "last_id": listed[-1]["id"] if listed else None})
    data = [
        {"id": model_id, "object": "model", "created": int(started), "owned_by": provider_key}
        for model_id, provider_key in models
    ]
    return json_response({"object": "list", "data": data})


def add_routes(app: web.Application, base: str) -> None:
    for prefix in (base, f"{base}/gateway"):
        app.router.add_post(f"{prefix}/v1/chat/completions", chat_completions)
    app.router.add_post(f"{base}/v1/embeddings", embeddings)
    app.router.add_get(f"{base}/v1/models", list_models)
