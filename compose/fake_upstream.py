"""A deterministic OpenAI-compatible upstream for the compose cluster and the chaos suite.

Speaks the OpenAI wire format the gateway's `openai` provider type expects:

- ``GET /v1/models``: the model list;
- ``POST /v1/chat/completions``: a ``chat.completion`` object, or with ``"stream": true`` a
  ``text/event-stream`` of ``chat.completion.chunk`` objects ending in ``data: [DONE]`` (a final
  usage-only chunk when ``stream_options.include_usage`` is true, and ``"usage": null`` on the
  other chunks then, as OpenAI does);
- ``POST /v1/embeddings``: an ``embedding`` list;
- ``GET /health``: liveness for the container's health check.

The reply is ``"echo: <last user text>"``; token counts are whitespace-separated word counts, so
tests can predict usage exactly. When ``FAKE_UPSTREAM_API_KEY`` is set (one key, or several
separated by commas), requests must carry one of them as ``Authorization: Bearer``; with
``FAKE_UPSTREAM_KEY_PREFIX`` set, any key starting with that prefix is accepted too (the chaos
suite creates providers with fresh keys at run time). Otherwise 401 in OpenAI's error format.
Every accepted ``/v1/`` request's Authorization is recorded under its last user text (the most
recent 10,000 prompts): ``GET /_recorded?prompt=...`` answers ``{"authorization": ...}`` or 404,
so a test can prove which credential the gateway sent. Two models misbehave on
purpose: ``fake-error`` answers 500 and ``fake-slow`` waits ``FAKE_UPSTREAM_SLOW_SECONDS``
(default 5) before answering. Listens on ``FAKE_UPSTREAM_PORT`` (default 8000).

Runs with nothing but aiohttp: ``python fake_upstream.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from typing import Any

from aiohttp import web

MODELS = ("fake-model", "fake-model-large", "fake-embedding", "fake-slow", "fake-error")
CREATED = 1_700_000_000
EMBEDDING_SIZE = 8

API_KEYS = web.AppKey("api_keys", frozenset)
KEY_PREFIX = web.AppKey("key_prefix", str)
RECORDED = web.AppKey("recorded", dict)
RECORD_LIMIT = 10_000
SLOW_SECONDS = web.AppKey("slow_seconds", float)


def _error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


def _words(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    """Flattens an OpenAI message content (a string or a list of parts) to its text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _prompt(messages: list[Any]) -> tuple[str, int]:
    """Returns the last user text and the prompt's token count (words of every message)."""
    last = ""
    tokens = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = _text_of(message.get("content"))
        tokens += _words(text)
        if message.get("role") == "user":
            last = text
    return last, tokens


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        response: web.StreamResponse = await handler(request)
        return response
    keys, prefix = request.app[API_KEYS], request.app[KEY_PREFIX]
    auth = request.headers.get("Authorization", "")
    given = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
    if (keys or prefix) and not (
        given is not None and (given in keys or (prefix and given.startswith(prefix)))
    ):
        return _error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    if request.method == "POST" and request.can_read_body:
        await _record(request, auth)
    answer: web.StreamResponse = await handler(request)
    return answer


async def _record(request: web.Request, auth: str) -> None:
    """Remembers which Authorization came with this prompt (the body stays readable)."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return
    prompt, _ = _prompt(messages)
    recorded = request.app[RECORDED]
    recorded.pop(prompt, None)
    recorded[prompt] = auth
    while len(recorded) > RECORD_LIMIT:
        del recorded[next(iter(recorded))]


async def recorded_auth(request: web.Request) -> web.Response:
    auth = request.app[RECORDED].get(request.query.get("prompt", ""))
    if auth is None:
        return web.json_response({"error": "no request with this prompt"}, status=404)
    return web.json_response({"authorization": auth})


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(
            400, "We could not parse the JSON body of your request.", "invalid_request_error"
        )
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.", "invalid_request_error")
    return body


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def models(_request: web.Request) -> web.Response:
    data = [
        {"id": m, "object": "model", "created": CREATED, "owned_by": "fake-upstream"}
        for m in MODELS
    ]
    return web.json_response({"object": "list", "data": data})


async def _misbehave(request: web.Request, model: str) -> web.Response | None:
    if model == "fake-error":
        return _error(500, "The server had an error while processing your request.", "server_error")
    if model == "fake-slow":
        await asyncio.sleep(request.app[SLOW_SECONDS])
    return None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(model, str) or not isinstance(messages, list) or not messages:
        return _error(
            400, "'model' and a non-empty 'messages' array are required.", "invalid_request_error"
        )
    if model not in MODELS:
        return _error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    bad = await _misbehave(request, model)
    if bad is not None:
        return bad
    last, prompt_tokens = _prompt(messages)
    reply = f"echo: {last}"
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": _words(reply),
        "total_tokens": prompt_tokens + _words(reply),
    }
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if body.get("stream") is True:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return await _stream(request, ident, created, model, reply, usage, include_usage)
    return web.json_response(
        {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }
    )


async def _stream(
    request: web.Request,
    ident: str,
    created: int,
    model: str,
    reply: str,
    usage: dict[str, int],
    include_usage: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
        }
    )
    await response.prepare(request)

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            out["usage"] = None
        return out

    pieces = reply.split(" ")
    events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [chunk({"content": p if i == 0 else f" {p}"}, None) for i, p in enumerate(pieces)]
    events.append(chunk({}, "stop"))
    if include_usage:
        events.append(
            {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [],
                "usage": usage,
            }
        )
    for event in events:
        await response.write(f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((b - 128) / 128, 6) for b in digest[:EMBEDDING_SIZE]]


async def embeddings(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    model = body.get("model")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(model, str) or not isinstance(inputs, list) or not inputs:
        return _error(400, "'model' and 'input' are required.", "invalid_request_error")
    texts = [x if isinstance(x, str) else json.dumps(x) for x in inputs]
    tokens = sum(_words(t) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _vector(t)}
                for i, t in enumerate(texts)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def make_app(
    *, api_key: str = "", key_prefix: str = "", slow_seconds: float = 5.0
) -> web.Application:
    """Builds the fake upstream; tests may mount it on any port.

    ``api_key`` may list several keys separated by commas.
    """
    app = web.Application(middlewares=[_auth])
    app[API_KEYS] = frozenset(k.strip() for k in api_key.split(",") if k.strip())
    app[KEY_PREFIX] = key_prefix
    app[RECORDED] = {}
    app[SLOW_SECONDS] = slow_seconds
    app.router.add_get("/health", health)
    app.router.add_get("/_recorded", recorded_auth)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


def main() -> None:
    app = make_app(
        api_key=os.environ.get("FAKE_UPSTREAM_API_KEY", ""),
        key_prefix=os.environ.get("FAKE_UPSTREAM_KEY_PREFIX", ""),
        slow_seconds=float(os.environ.get("FAKE_UPSTREAM_SLOW_SECONDS", "5")),
    )
    web.run_app(
        app,
        host="0.0.0.0",
        port=int(os.environ.get("FAKE_UPSTREAM_PORT", "8000")),
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
