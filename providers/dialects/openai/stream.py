"""OpenAI Chat Completions streams: the upstream decoder and the inbound encoder.

The encoder sends a role chunk, content / tool_call deltas (numeric ``index``, the first
delta of a call carries ``id``, ``type`` and ``name``), one finish chunk, the usage chunk only
when the client asked (``stream_options.include_usage``), then ``[DONE]``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from providers.canonical import (
    End,
    Start,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolDelta,
    ToolStart,
    new_id,
)
from providers.dialects.openai.messages import FINISH, finish_to, usage_from, usage_to
from providers.dialects.streams import Decoder, Encoder, load_event
from providers.sse import SSEEvent
from providers.types import Usage

__all__ = ["DONE", "OpenAIDecoder", "OpenAIEncoder"]

DONE = b"data: [DONE]\n\n"


class OpenAIDecoder(Decoder):
    """Chat-completions chunks; tool calls are keyed by their ``index``."""

    terminal = "[DONE]"

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self._positions: dict[int, int] = {}

    def read(self, event: SSEEvent) -> list[StreamEvent]:
        if event.data == b"[DONE]":
            # Some compatible servers end with [DONE] and no finish_reason: still whole.
            self.finish_reason = self.finish_reason or "stop"
            return self.finish()
        obj = load_event(self.provider, event.data)
        out: list[StreamEvent] = []
        if not self.started:
            self.started = True
            out.append(Start(str(obj.get("id", "")), str(obj.get("model", "")), Usage()))
        usage = obj.get("usage")
        if usage:
            self.usage = usage_from(usage)
        choices = obj.get("choices")
        if choices:
            self._choice(choices[0], out)
        return out

    def _choice(self, choice: dict[str, Any], out: list[StreamEvent]) -> None:
        delta = choice.get("delta") or {}
        # DeepSeek, Qwen, Kimi and vLLM say reasoning_content; OpenRouter says reasoning.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            out.append(ThinkingDelta(reasoning))
        content = delta.get("content")
        if content:
            out.append(TextDelta(_text(content)))
        for call in delta.get("tool_calls") or ():
            index = call.get("index", len(self._positions))
            fn = call.get("function") or {}
            pos = self._positions.get(index)
            if pos is None:
                pos = self._positions[index] = self.calls
                self.calls += 1
                call_id = call.get("id") or new_id("call_", f"{pos}_{fn.get('name', '')}")
                out.append(ToolStart(pos, _text(call_id), str(fn.get("name", ""))))
            args = fn.get("arguments")
            if args:
                out.append(ToolDelta(pos, _text(args)))
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = FINISH.get(str(reason), "stop")


def _text(value: Any) -> str:
    """A string the encoders relay as one; anything else is a wrong shape (see ``feed``)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


class OpenAIEncoder(Encoder):
    def __init__(self, model: str, *, include_usage: bool = False) -> None:
        super().__init__(model)
        self._include_usage = include_usage
        self._prefix = b'{"id":"chatcmpl-at","object":"chat.completion.chunk"'
        self._head = self._prefix + b',"choices":[{"index":0,"delta":'
        self._calls = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        tail = b',"finish_reason":null}]}' if finish is None else (
            b',"finish_reason":"' + finish.encode() + b'"}]}'
        )  # fmt: skip
        return b"data: " + self._head + orjson.dumps(delta) + tail + b"\n\n"

    def encode(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, TextDelta):
            return [self._chunk({"content": event.text})]
        if isinstance(event, ThinkingDelta):
            return [self._chunk({"reasoning_content": event.text})] if event.text else []
        if isinstance(event, ToolDelta):
            call = {"index": event.call, "function": {"arguments": event.arguments}}
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, ToolStart):
            self._calls = True
            call = {"index": event.call, "id": event.id, "type": "function",
                    "function": {"name": event.name, "arguments": ""}}  # fmt: skip
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, Start):
            return self._start(event)
        return self._end(event)

    def _start(self, event: Start) -> list[bytes]:
        cid = event.id if event.id.startswith("chatcmpl") else f"chatcmpl-{event.id or 'at'}"
        self._prefix = orjson.dumps(
            {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
             "model": event.model or self.model}
        )[:-1]  # fmt: skip
        self._head = self._prefix + b',"choices":[{"index":0,"delta":'
        return [self._chunk({"role": "assistant", "content": ""})]

    def _end(self, event: End) -> list[bytes]:
        out = [self._chunk({}, finish_to(event.finish or "stop", self._calls))]
        if self._include_usage:
            usage = orjson.dumps(usage_to(event.usage))
            out.append(b"data: " + self._prefix + b',"choices":[],"usage":' + usage + b"}\n\n")
        out.append(DONE)
        return out
