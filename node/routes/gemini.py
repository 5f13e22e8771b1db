"""Gemini native dialect in: ``/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (``alt=sse``), to any provider."""

from __future__ import annotations

import orjson
from aiohttp import web

from node.errors import BadRequest
from node.exchange import authenticate, read_json, serve
from node.keys import model_allowed
from node.state import GATEWAY

_ACTIONS = {"generateContent": False, "streamGenerateContent": True}


async def generate(request: web.Request) -> web.StreamResponse:
    key = authenticate(request)
    model, _, action = request.match_info["target"].rpartition(":")
    if action not in _ACTIONS or not model:
        raise BadRequest(
            "Expected models/{model}:generateContent or models/{model}:streamGenerateContent"
        )
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    stream = _ACTIONS[action]
    # Without alt=sse, Google streams one JSON array whose elements arrive as they are made.
    json_array = stream and request.query.get("alt") != "sse"
    return await serve(request, "gemini", body, model, stream=stream, key=key,
                       json_array=json_array)


async def list_models(request: web.Request) -> web.Response:
    key = authenticate(request)
    gateway = request.app[GATEWAY]
    models = [
        {
            "name": f"models/{model_id}",
            "displayName": model_id,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
        }
        for model_id, provider_key, _ in gateway.catalog.model_ids()
        if model_allowed(key, provider_key, model_id.split("/", 1)[1])
    ]
    return web.Response(body=orjson.dumps({"models": models}), content_type="application/json")


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/v1beta/models/{{target:.+}}", generate)
    # google-genai with a custom base_url defaults to api_version v1; serve both.
    app.router.add_post(f"{base}/v1/models/{{target:.+}}", generate)
    app.router.add_get(f"{base}/v1beta/models", list_models)
