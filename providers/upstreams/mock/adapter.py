"""The ``mock`` provider: no network, deterministic answers in the OpenAI dialect.

The reply is "Mock reply to: <first 40 chars of the last user message>" padded with
filler words to 32 words, cut by ``max_completion_tokens`` / ``max_tokens`` (one token is
one word; ``finish_reason`` is then "length"). Usage counts words.

Test hooks: when the last user message (stripped) is one of these, the mock

* ``mock:error:<status>`` raises what an upstream answering <status> would cause
  (``mock:error:429`` gives ``UpstreamRateLimited`` with ``retry_after`` "7");
* ``mock:timeout`` raises ``UpstreamTimeout``; ``mock:unreachable`` raises
  ``UpstreamUnreachable``;
* ``mock:hang`` waits ``config.timeout`` seconds, then raises ``UpstreamTimeout``;
* ``mock:slow`` or ``mock:slow:<seconds>`` waits (default 0.1 s) before each chunk
  (before the answer when not streamed);
* ``mock:fail-mid-stream`` streams the role chunk and three words, then an error event
  (status 502) with ``failed`` set; not streamed, it raises ``UpstreamServerError``.

A probe always succeeds (200); the model list is the configured default model and the
upstream side of each ``models`` entry (patterns left out), owned by "mock".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from providers.dialects import DIALECTS
from providers.errors import (
    ProviderError,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from providers.sse import SSEEvent
from providers.translate import (
    StreamTranslator,
    from_upstream_response,
    stream_translator,
    to_upstream_request,
)
from providers.transport.client import ClientPool
from providers.types import ClientHeaders, Dialect, ProviderConfig, Reply, UpstreamModel, Usage
from providers.upstream_errors import upstream_error
from providers.upstreams.mock.text import (
    answer,
    chunks,
    completion,
    count_words,
    embeddings,
    last_user_text,
)

__all__ = ["MockProvider", "MockStream"]

_SLOW_DEFAULT = 0.1
_FAIL_AFTER = 4  # chunks relayed before a mock:fail-mid-stream failure (role + 3 words)


@dataclass(frozen=True, slots=True)
class _Hook:
    delay: float = 0.0
    fail_mid_stream: bool = False


def _error_for(provider: str, status: int) -> ProviderError:
    body = orjson.dumps({"error": {"message": f"mock error {status}", "type": "mock_error"}})
    return upstream_error(provider, status, body, "7" if status == 429 else None)


class MockProvider:
    """The deterministic, offline provider; see the module docstring for its hooks."""

    def __init__(self, config: ProviderConfig, pool: ClientPool | None = None) -> None:
        self.config = config
        self.dialect: Dialect = "openai"

    async def _hook(self, body: dict[str, Any]) -> _Hook:
        """Act on a hook in ``body``: raise, wait, or say how to stream."""
        text = last_user_text(body).strip()
        if not text.startswith("mock:"):
            return _Hook()
        key = self.config.key
        name, _, arg = text[5:].partition(":")
        if name == "error" and arg.isdigit():
            raise _error_for(key, int(arg))
        if name == "timeout":
            raise UpstreamTimeout(f"provider {key!r} did not answer in time", provider=key)
        if name == "unreachable":
            raise UpstreamUnreachable(f"cannot reach provider {key!r} (mock)", provider=key)
        if name == "hang":
            await asyncio.sleep(self.config.timeout)
            raise UpstreamTimeout(f"provider {key!r} did not answer in time", provider=key)
        if name == "slow":
            try:
                return _Hook(delay=float(arg) if arg else _SLOW_DEFAULT)
            except ValueError:
                return _Hook(delay=_SLOW_DEFAULT)
        if name == "fail-mid-stream":
            return _Hook(fail_mid_stream=True)
        return _Hook()

    def _openai_body(self, inbound: Dialect, body: dict[str, Any], model: str) -> dict[str, Any]:
        if inbound == "openai":
            return body
        return to_upstream_request(inbound, "openai", body, model, self.config)

    async def complete(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> Reply:
        """Answer at once (or after a ``mock:slow`` delay)."""
        request = self._openai_body(inbound, body, model)
        hook = await self._hook(request)
        if hook.fail_mid_stream:
            raise UpstreamServerError("mock failure", provider=self.config.key)
        if hook.delay:
            await asyncio.sleep(hook.delay)
        reply = answer(request, model)
        raw = completion(reply, model)
        if inbound != "openai":
            raw = from_upstream_response(inbound, "openai", raw, model)
        return Reply(raw, reply.usage)

    async def open_stream(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> MockStream:
        """Return a stream of the same answer in OpenAI chunk format."""
        translator = None
        if inbound != "openai":
            translator = stream_translator(
                inbound, "openai", model, request=body, provider=self.config.key
            )
        request = self._openai_body(inbound, body, model)
        hook = await self._hook(request)
        reply = answer(request, model)
        options = request.get("stream_options")
        include = isinstance(options, dict) and options.get("include_usage") is True
        include = include or translator is not None  # a translator reads usage itself
        payloads = chunks(reply, model, include_usage=include)
        if hook.fail_mid_stream:
            payloads = payloads[:_FAIL_AFTER]
        return MockStream(
            payloads,
            reply.usage,
            inbound=inbound,
            delay=hook.delay,
            fail=hook.fail_mid_stream,
            translator=translator,
        )

    async def embed(self, body: dict[str, Any], model: str) -> Reply:
        """Deterministic unit vectors (8 dimensions unless ``dimensions`` says otherwise)."""
        await self._hook({"messages": [{"role": "user", "content": body.get("input")}]})
        raw, usage = embeddings(body, model)
        return Reply(raw, usage)

    async def count_tokens(self, body: dict[str, Any], model: str,
                           *, headers: ClientHeaders = None) -> int:
        """Words in ``system`` and all messages, as the mock counts tokens."""
        return count_words(body)

    async def probe(self, model: str) -> int:
        """Nothing to reach: the mock is always up."""
        return 200

    async def list_models(self) -> list[UpstreamModel]:
        """The models this mock was configured with, as an upstream would list them."""
        names = [self.config.model] + [
            entry.partition("=")[2].strip() or entry.strip() for entry in self.config.models]
        unique = dict.fromkeys(name for name in names if name and not name.endswith("*"))
        return [UpstreamModel(name, "mock") for name in unique]


class MockStream:
    """A stream over precomputed chunk payloads; see ``providers.types.Stream``."""

    def __init__(
        self,
        payloads: list[bytes],
        usage: Usage,
        *,
        inbound: Dialect,
        delay: float = 0.0,
        fail: bool = False,
        translator: StreamTranslator | None = None,
    ) -> None:
        self.usage = Usage()
        self.failed = False
        self.error = ""
        self.final = False  # the mock paces its chunks; it never knows one is the last early
        self._final_usage = usage
        self._payloads = payloads
        self._inbound = inbound
        self._delay = delay
        self._fail = fail
        self._translator = translator
        self._gen: AsyncGenerator[bytes, None] | None = None

    @property
    def arrived(self) -> bool:
        """Unpaced chunks are all in hand; paced ones come one ``delay`` after another."""
        return not self._delay

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    async def aclose(self) -> None:
        """Stop the stream (idempotent)."""
        if self._gen is not None:
            # RuntimeError: it runs in another task, which ends it at its next step anyway.
            with contextlib.suppress(RuntimeError):
                await self._gen.aclose()

    async def _run(self) -> AsyncGenerator[bytes, None]:
        for payload in self._payloads:
            if self._delay:
                await asyncio.sleep(self._delay)
            for out in self._frame(payload):
                yield out
        if self._fail:
            self.failed = True
            self.error = "mock failure mid-stream"
            yield DIALECTS[self._inbound].error_event(502, self.error)
            return
        self.usage = self._final_usage

    def _frame(self, payload: bytes) -> list[bytes]:
        if self._translator is None:
            return [b"data: " + payload + b"\n\n"]
        if payload == b"[DONE]":
            return self._translator.finish()
        return self._translator.feed(SSEEvent(payload))
