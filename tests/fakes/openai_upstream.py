"""A fake OpenAI-compatible upstream: a real aiohttp server on loopback.

It records every request (method, path, headers, JSON body) and answers from a script
of responses, one per request, in order. With an empty script it answers like a tiny
OpenAI: a fixed chat completion (streamed when asked, with the usage chunk when
``stream_options.include_usage``), embeddings, or a model list (``model_ids``, as
``GET /v1/models`` lists them). Subclasses serving a paged list serve at most
``page_limit`` models a page.

    async with FakeUpstream() as fake:
        fake.push(Json({"error": {"message": "slow down"}}, status=429,
                       headers={"Retry-After": "3"}))
        ... base_url=fake.base_url ...
        assert fake.requests[0].body["model"] == "gpt-x"
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from tests.fakes.responses_replies import responses_body, responses_events

__all__ = [
    "Drop",
    "Echo",
    "FakeUpstream",
    "Hang",
    "Json",
    "Raw",
    "Recorded",
    "Sse",
    "chat_chunks",
    "chat_completion",
    "page_of",
]


@dataclass
class Json:
    """Answer with a JSON body."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Raw:
    """Answer with raw bytes (e.g. HTML or garbage)."""

    body: bytes
    status: int = 200
    content_type: str = "text/plain"


@dataclass
class Sse:
    """Answer with an SSE stream of ``events``.

    An event is a dict (sent as ``data: <json>``), ``"[DONE]"``, or raw ``bytes`` written
    as they are (a whole frame, a fragment or garbage). ``delay`` waits before each event;
    ``drop_after`` aborts the connection after that many events.
    """

    events: list[Any]
    delay: float = 0.0
    drop_after: int | None = None
    status: int = 200


@dataclass
class Hang:
    """Accept the request and never answer (until the client gives up)."""

    seconds: float = 30.0


@dataclass
class Drop:
    """Close the connection without answering."""


@dataclass
class Echo:
    """Answer ``status`` with an error whose message echoes the request: its target and
    every header, as some upstreams and proxies do in their 401 pages."""

    status: int = 401


@dataclass
class Recorded:
    """One request the fake received; ``raw_path`` is the path as it came on the wire
    (``path`` is decoded)."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    raw: bytes
    body: Any
    raw_path: str = ""


def chat_completion(
    content: str = "Hello from the fake.",
    *,
    model: str = "fake-model",
    prompt_tokens: int = 11,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
) -> dict[str, Any]:
    """A complete chat.completion body."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def chat_chunks(
    words: list[str] | None = None,
    *,
    model: str = "fake-model",
    include_usage: bool = True,
    prompt_tokens: int = 11,
    done: bool = True,
) -> list[Any]:
    """Stream events as OpenAI sends them: role, deltas, finish, usage?, [DONE]."""
    words = ["Hello", " from", " the", " fake."] if words is None else words
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model}
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": word}) for word in words]
    events.append(chunk({}, "stop"))
    if include_usage:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        events.append({**head, "choices": [], "usage": usage})
    if done:
        events.append("[DONE]")
    return events


def page_of(names: list[str], start: int, size: int) -> tuple[list[str], bool]:
    """``size`` names from ``start`` and whether more follow (a paged model list)."""
    return names[start:start + size], start + size < len(names)


class FakeUpstream:
    """The fake server; ``base_url`` is its API root (``http://127.0.0.1:<port>/v1``)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[Recorded] = []
        self.script: deque[Any] = deque()
        self.disconnects = 0
        self.peers: set[tuple[str, int]] = set()
        self.disconnected = asyncio.Event()
        self.model_ids: list[str] = ["fake-model"]
        self.page_limit = 1000
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def connections(self) -> int:
        """How many distinct client connections (peer addresses) have sent requests."""
        return len(self.peers)

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def push(self, *responses: Any) -> None:
        """Queue responses for the next requests, in order."""
        self.script.extend(responses)

    async def __aenter__(self) -> FakeUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername")[:2])
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), request.headers, raw,
                     body, request.raw_path)
        )
        action = self.script.popleft() if self.script else self._default(request.path, body)
        return await self._answer(request, action)

    def _default(self, path: str, body: Any) -> Any:
        body = body if isinstance(body, dict) else {}
        model = str(body.get("model", "fake-model"))
        if path.endswith("/chat/completions") and body.get("stream"):
            options = body.get("stream_options") or {}
            return Sse(chat_chunks(model=model, include_usage=bool(options.get("include_usage"))))
        if path.endswith("/chat/completions"):
            return Json(chat_completion(model=model))
        if path.endswith("/responses"):  # OpenAI's own Responses API
            return Sse(list(responses_events(model))) if body.get("stream") else Json(
                responses_body(model))
        if path.endswith("/embeddings"):
            data = [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]
            usage = {"prompt_tokens": 3, "total_tokens": 3}
            return Json({"object": "list", "data": data, "model": model, "usage": usage})
        if path.endswith("/models"):
            return Json({"object": "list", "data": [
                {"id": name, "object": "model", "created": 1, "owned_by": "fake-org"}
                for name in self.model_ids]})
        return Json({"error": {"message": f"no route {path}"}}, status=404)

    async def _answer(self, request: web.Request, action: Any) -> web.StreamResponse:
        if isinstance(action, Json):
            return web.Response(
                body=orjson.dumps(action.body),
                status=action.status,
                headers=action.headers,
                content_type="application/json",
            )
        if isinstance(action, Raw):
            return web.Response(
                body=action.body, status=action.status, content_type=action.content_type
            )
        if isinstance(action, Echo):
            lines = [request.raw_path] + [f"{k}: {v}" for k, v in request.headers.items()]
            message = "unauthorized request: " + " | ".join(lines)
            return web.Response(body=orjson.dumps({"error": {"message": message}}),
                                status=action.status, content_type="application/json")
        if isinstance(action, Hang):
            await self._wait(action.seconds)
            return web.Response(status=504)
        if isinstance(action, Drop):
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        assert isinstance(action, Sse), action
        return await self._stream(request, action)

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self._note_disconnect()
            raise

    def _note_disconnect(self) -> None:
        self.disconnects += 1
        self.disconnected.set()

    async def _stream(self, request: web.Request, action: Sse) -> web.StreamResponse:
        resp = web.StreamResponse(status=action.status)
        resp.content_type = "text/event-stream"
        await resp.prepare(request)
        try:
            for i, event in enumerate(action.events):
                if action.drop_after is not None and i >= action.drop_after:
                    assert request.transport is not None
                    request.transport.abort()
                    return resp
                if action.delay:
                    await asyncio.sleep(action.delay)
                await resp.write(_frame(event))
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self._note_disconnect()
            raise
        return resp


def _frame(event: Any) -> bytes:
    if isinstance(event, bytes):
        return event
    if event == "[DONE]":
        return b"data: [DONE]\n\n"
    return b"data: " + orjson.dumps(event) + b"\n\n"
