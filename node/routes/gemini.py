"""Gemini native dialect in: ``/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (``alt=sse``), to any provider."""

from __future__ import annotations

from aiohttp import web

from node.errors import BadRequest
from node.json_io import read_object
from node.serve import Exchange

_ACTIONS = {"generateContent": False, "streamGenerateContent": True}


async def generate(request: web.Request) -> web.StreamResponse:
    async with Exchange(request, "gemini", "chat") as exchange:
        model, _, action = request.match_info["target"].rpartition(":")
        if action not in _ACTIONS or not model:
            raise BadRequest(
                "Expected models/{model}:generateContent or models/{model}:streamGenerateContent"
            )
        body = await read_object(request)
        stream = _ACTIONS[action]
        # Without alt=sse, Google streams one JSON array whose elements arrive as made.
        json_array = stream and request.query.get("alt") != "sse"
        return await exchange.chat(body, model, stream=stream, json_array=json_array)


async def list_models(request: web.Request) -> web.Response:
    async with Exchange(request, "gemini", "models") as exchange:
        visible = exchange.visible_models()
    return web.Response(body=exchange.spec.model_list(visible, exchange.gateway.started),
                        content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    async with Exchange(request, "gemini", "models") as exchange:
        return exchange.model_info(request.match_info["name"])


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/v1beta/models/{{target:.+}}", generate)
    # google-genai with a custom base_url defaults to api_version v1; serve both.
    app.router.add_post(f"{base}/v1/models/{{target:.+}}", generate)
    app.router.add_get(f"{base}/v1beta/models", list_models)
    app.router.add_get(f"{base}/v1beta/models/{{name:.+}}", get_model)
