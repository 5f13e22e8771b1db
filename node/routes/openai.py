"""OpenAI dialect: chat completions, embeddings and the model list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.errors import BadRequest
from node.json_io import read_object
from node.serve import Exchange
from node.serve.policy import has_default_model
from node.state import STATE
from providers import check_embedding_request


def _model(body: dict[str, Any], exchange: Exchange | None = None) -> str:
    """The model the body names; "" for the key's default model when it has one."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if exchange is not None and has_default_model(exchange):
            return ""
        raise BadRequest("'model' is required and must be a string", param="model")
    return model


async def chat_completions(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, "openai", "chat") as exchange:
        body = await read_object(request)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be a boolean", param="stream")
        return await exchange.chat(body, _model(body, exchange), stream=stream)


async def embeddings(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, "openai", "embeddings") as exchange:
        body = await read_object(request)
        check_embedding_request(body)  # a malformed body is a 400 whatever model it names
        route = exchange.admit(exchange.resolve(_model(body)))
        body = await exchange.reserve(route, body)
        reply = await exchange.call(route.provider.embed(body, route.model))
        exchange.settle(reply.usage, reply.status)
        return web.Response(body=reply.body, status=reply.status,
                            content_type="application/json")


async def list_models(request: web.Request) -> web.Response:
    """The key's models in the asking client's shape (Anthropic's for Claude Code's gateway
    model discovery, Gemini's for google-genai, OpenAI's otherwise)."""
    async with Exchange(request, request[STATE].dialect, "models") as exchange:
        models = exchange.visible_models()
    return web.Response(body=exchange.spec.model_list(models, exchange.gateway.started),
                        content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    """One model (the SDKs' ``models.retrieve``), in the asking client's shape."""
    async with Exchange(request, request[STATE].dialect, "models") as exchange:
        return exchange.model_info(request.match_info["model_id"])


def add_routes(app: web.Application, base: str) -> None:
    for prefix in (base, f"{base}/gateway"):
        app.router.add_post(f"{prefix}/v1/chat/completions", chat_completions)
    app.router.add_post(f"{base}/v1/embeddings", embeddings)
    app.router.add_get(f"{base}/v1/models", list_models)
    app.router.add_get(f"{base}/v1/models/{{model_id:.+}}", get_model)
