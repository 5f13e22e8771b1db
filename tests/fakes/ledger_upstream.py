"""A fake OpenAI-compatible upstream that keeps a ledger of every request it receives.

The ledger is the ground truth of a limits test: what the upstream saw, not what the gateway
says it admitted. Each entry holds the arrival time (``time.time()``, the test's own clock and
the database's, all on one machine), the route tag (the first path segment: give every key its
own provider whose ``base_url`` is ``upstream.base_url(tag)``), the request id the client put
in its prompt (``id=<hex>``), the input tokens the answer's usage reports and the output tokens
actually generated (counted as they are written, so a stream cut off by a killed node still
bills what the upstream produced, as a real one would).

    async with LedgerUpstream() as upstream:
        providers = {"up-a": {"type": "openai", "base_url": upstream.base_url("a"), ...}}
        ...
        assert all(entry.tag == "a" for entry in upstream.ledger)
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

__all__ = ["Entry", "LedgerUpstream", "request_id_of", "words_for"]

ID = re.compile(r"\bid=([0-9a-f]+)\b")


@dataclass(slots=True)
class Entry:
    """One request as the upstream received it."""

    arrival: float
    tag: str
    request_id: str
    stream: bool
    input_tokens: int
    output_tokens: int = 0
    finished: bool = False


def request_id_of(body: Any) -> str:
    """The ``id=<hex>`` a client wrote into its last message ("" when there is none)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages or []):
        content = message.get("content") if isinstance(message, dict) else None
        found = ID.search(content) if isinstance(content, str) else None
        if found:
            return found.group(1)
    return ""


def _input_tokens(body: dict[str, Any]) -> int:
    """About four characters a token, like the tokenizers' rule of thumb."""
    chars = sum(len(m.get("content") or "") for m in body.get("messages", [])
                if isinstance(m, dict) and isinstance(m.get("content"), str))
    return max(1, chars // 4)


def words_for(request_id: str, max_tokens: int) -> int:
    """How many tokens a request that allows ``max_tokens`` gets: 1 to ``max_tokens``, spread
    evenly and fixed by its id (so an answer uses a varying part of its reservation)."""
    return 1 + int(request_id[:8] or "0", 16) % max_tokens


class LedgerUpstream:
    """The fake server: answers ``words`` tokens (streamed ``delay`` apart when asked), or,
    when the request sets ``max_tokens``, :func:`words_for` of it."""

    def __init__(self, *, words: int = 6, delay: float = 0.003) -> None:
        self.words = words
        self.delay = delay
        self.ledger: list[Entry] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    def base_url(self, tag: str) -> str:
        """The API root of route ``tag`` (a provider's ``base_url``)."""
        return f"http://127.0.0.1:{self.port}/{tag}/v1"

    async def __aenter__(self) -> LedgerUpstream:
        app = web.Application()
        app.router.add_post("/{tag}/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        arrival = time.time()
        body = orjson.loads(await request.read())
        entry = Entry(arrival, request.match_info["tag"], request_id_of(body),
                      bool(body.get("stream")), _input_tokens(body))
        self.ledger.append(entry)
        model = str(body.get("model", "m"))
        limit = body.get("max_tokens")
        words = words_for(entry.request_id, limit) if isinstance(limit, int) else self.words
        if not entry.stream:
            entry.output_tokens, entry.finished = words, True
            return web.json_response(self._completion(model, entry))
        return await self._stream(request, model, entry, words,
                                  bool((body.get("stream_options") or {}).get("include_usage")))

    def _completion(self, model: str, entry: Entry) -> dict[str, Any]:
        return {"id": f"chatcmpl-{entry.request_id}", "object": "chat.completion",
                "created": int(entry.arrival), "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": " tok" * entry.output_tokens}}],
                "usage": self._usage(entry)}

    def _usage(self, entry: Entry) -> dict[str, int]:
        return {"prompt_tokens": entry.input_tokens, "completion_tokens": entry.output_tokens,
                "total_tokens": entry.input_tokens + entry.output_tokens}

    async def _stream(self, request: web.Request, model: str, entry: Entry, words: int,
                      usage: bool) -> web.StreamResponse:
        head = {"id": f"chatcmpl-{entry.request_id}", "object": "chat.completion.chunk",
                "created": int(entry.arrival), "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            event = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return b"data: " + orjson.dumps(event) + b"\n\n"

        resp = web.StreamResponse()
        resp.content_type = "text/event-stream"
        await resp.prepare(request)
        await resp.write(chunk({"role": "assistant", "content": ""}))
        for _ in range(words):
            await asyncio.sleep(self.delay)
            entry.output_tokens += 1  # generated: billed even if the reader is gone
            await resp.write(chunk({"content": " tok"}))
        await resp.write(chunk({}, "stop"))
        if usage:
            event = {**head, "choices": [], "usage": self._usage(entry)}
            await resp.write(b"data: " + orjson.dumps(event) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        entry.finished = True
        return resp
