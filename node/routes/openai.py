"""OpenAI dialect: chat completions, embeddings and the model list."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from node.errors import BadRequest, Forbidden
from node.exchange import authenticate, read_json, serve
from node.keys import model_allowed
from node.state import GATEWAY, UPSTREAM_SECONDS


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a string", param="model")
    return model


async def chat_completions(request: web.Request) -> web.StreamResponse:
    key = authenticate(request)
    body = _object(await read_json(request))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean", param="stream")
    return await serve(request, "openai", body, _model(body), stream=stream, key=key)


async def embeddings(request: web.Request) -> web.StreamResponse:
    key = authenticate(request)
    body = _object(await read_json(request))
    gateway = request.app[GATEWAY]
    route = gateway.catalog.resolve(_model(body))
    if not model_allowed(key, route.provider_key, route.model):
        raise Forbidden(
            f"This API key may not use '{route.provider_key}/{route.model}'", param="model"
        )
    if not isinstance(body.get("input"), str | list):
        raise BadRequest("'input' must be a string or an array", param="input")
    sent = time.perf_counter()
    reply = await route.provider.embed(body, route.model)
    request[UPSTREAM_SECONDS] = time.perf_counter() - sent
    gateway.metrics.upstream_done(route.provider_key, reply.status, request[UPSTREAM_SECONDS])
    gateway.metrics.tokens_used(key.id, f"{route.provider_key}/{route.model}",
                                reply.usage.input_tokens, 0)
    return web.Response(body=reply.body, status=reply.status, content_type="application/json")


async def list_models(request: web.Request) -> web.Response:
    key = authenticate(request)
    gateway = request.app[GATEWAY]
    created = int(gateway.started)
    data = [
        {"id": model_id, "object": "model", "created": created, "owned_by": provider_key}
        for model_id, provider_key, _ in gateway.catalog.model_ids()
        if model_allowed(key, provider_key, model_id.split("/", 1)[1])
    ]
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )


def add_routes(app: web.Application, base: str) -> None:
    for prefix in (base, f"{base}/gateway"):
        app.router.add_post(f"{prefix}/v1/chat/completions", chat_completions)
    app.router.add_post(f"{base}/v1/embeddings", embeddings)
    app.router.add_get(f"{base}/v1/models", list_models)
