"""Gemini native dialect in: ``/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (``alt=sse``), to any provider."""

from __future__ import annotations

from aiohttp import web

from node.errors import BadRequest
from node.json_io import json_response, read_object
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
    models = [
        {
            "name": f"models/{model_id}",
            "displayName": model_id,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
        }
        for model_id, _ in visible
    ]
    return json_response({"models": models})


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/v1beta/models/{{target:.+}}", generate)
    # google-genai with a custom base_url defaults to api_version v1; serve both.
    app.router.add_post(f"{base}/v1/models/{{target:.+}}", generate)
    app.router.add_get(f"{base}/v1beta/models", list_models)
