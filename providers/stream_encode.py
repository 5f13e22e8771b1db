"""Inbound stream encoders: canonical stream events in, the client's SSE bytes out.

* OpenAI: a role chunk, content / tool_call deltas (numeric ``index``, the first delta of a
  call carries ``id``, ``type`` and ``name``), one finish chunk, the usage chunk only when
  the client asked (``stream_options.include_usage``), then ``[DONE]``.
* Anthropic: every frame has ``event:`` and ``data:``; blocks are strictly sequential.
  The first tool call streams live; calls that start while another is open are held
  and sent whole at the end, so interleaved parallel calls keep their own arguments.
  ``stop_reason`` is ``tool_use`` only when a tool_use block went out. Reasoning becomes a
  thinking block, signed by the upstream or marked ``UNSIGNED_THINKING``.
* Gemini: text chunks as they come; function calls are whole objects in Gemini, so their
  arguments are gathered and sent with the final chunk (finishReason, usageMetadata).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from providers import dialect_anthropic as anthropic
from providers import dialect_gemini as gemini
from providers.canonical import (
    UNSIGNED_THINKING,
    End,
    Start,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolDelta,
    ToolStart,
    args_object,
    log,
    new_id,
)
from providers.dialect_openai import finish_to, usage_to

__all__ = ["AnthropicEncoder", "Encoder", "GeminiEncoder", "OpenAIEncoder"]

_DONE = b"data: [DONE]\n\n"


class Encoder:
    def __init__(self, model: str) -> None:
        self.model = model

    def encode(self, event: StreamEvent) -> list[bytes]:
        raise NotImplementedError


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
        out.append(_DONE)
        return out


def _sse(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicEncoder(Encoder):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self._index = -1
        self._open: str | None = None  # "text" | "tool" | None
        self._live = -1  # the call whose block is open
        self._held: dict[int, list[str]] = {}  # call -> [id, name, fragments...]
        self._tool_blocks = 0
        self._signature = ""

    def encode(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, TextDelta):
            out = [] if self._open == "text" else [*self._flush_held(), *self._open_block(
                "text", {"type": "text", "text": ""})]  # fmt: skip
            delta = {"type": "text_delta", "text": event.text}
            out.append(_sse(b"content_block_delta",
                            {"type": "content_block_delta", "index": self._index,
                             "delta": delta}))  # fmt: skip
            return out
        if isinstance(event, ThinkingDelta):
            return self._thinking(event)
        if isinstance(event, ToolDelta):
            return self._tool_delta(event)
        if isinstance(event, ToolStart):
            return self._tool_start(event)
        if isinstance(event, Start):
            return [self._message_start(event)]
        return self._end(event)

    def _message_start(self, event: Start) -> bytes:
        mid = event.id if event.id.startswith("msg_") else new_id("msg_", event.id or "at")
        message: dict[str, Any] = {"id": mid, "type": "message", "role": "assistant",
                   "model": event.model or self.model, "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": anthropic.usage_to(event.usage)}  # fmt: skip
        return _sse(b"message_start", {"type": "message_start", "message": message})

    def _thinking(self, event: ThinkingDelta) -> list[bytes]:
        out: list[bytes] = []
        if self._open != "thinking":
            out += self._flush_held()
            out += self._open_block("thinking", {"type": "thinking", "thinking": "",
                                                 "signature": ""})
        if event.text:
            delta = {"type": "thinking_delta", "thinking": event.text}
            out.append(_sse(b"content_block_delta", {"type": "content_block_delta",
                                                     "index": self._index, "delta": delta}))
        self._signature = event.signature or self._signature
        return out

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        out = []
        if self._open == "thinking":
            # Clients require a signed thinking block; the signature comes last, as Anthropic
            # sends it.
            delta = {"type": "signature_delta", "signature": self._signature or UNSIGNED_THINKING}
            out.append(_sse(b"content_block_delta", {"type": "content_block_delta",
                                                     "index": self._index, "delta": delta}))
            self._signature = ""
        self._open = None
        self._live = -1
        out.append(_sse(b"content_block_stop", {"type": "content_block_stop",
                                                "index": self._index}))
        return out

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self._index += 1
        self._open = kind
        out.append(_sse(b"content_block_start", {"type": "content_block_start",
                                                 "index": self._index, "content_block": block}))
        return out

    def _tool_start(self, event: ToolStart) -> list[bytes]:
        if self._open == "tool":
            self._held[event.call] = [event.id, event.name]
            return []
        self._tool_blocks += 1
        out = self._open_block(
            "tool", {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
        )
        self._live = event.call
        return out

    def _tool_delta(self, event: ToolDelta) -> list[bytes]:
        if event.call == self._live:
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            return [_sse(b"content_block_delta", {"type": "content_block_delta",
                                                  "index": self._index, "delta": delta})]
        held = self._held.get(event.call)
        if held is not None:
            held.append(event.arguments)
        else:
            log.debug("dropped arguments of call %d: its block is closed", event.call)
        return []

    def _end(self, event: End) -> list[bytes]:
        out = self._flush_held()
        reason = anthropic.stop_reason(event.finish or "stop", self._tool_blocks > 0)
        out.append(_sse(b"message_delta", {
            "type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": anthropic.usage_to(event.usage)}))  # fmt: skip
        out.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        return out

    def _flush_held(self) -> list[bytes]:
        """Close the open block and send the held calls whole, in the order they began."""
        out = self._close()
        for call_id, name, *fragments in self._held.values():
            self._tool_blocks += 1
            out += self._open_block(
                "tool", {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            )
            delta = {"type": "input_json_delta", "partial_json": "".join(fragments)}
            out.append(_sse(b"content_block_delta", {"type": "content_block_delta",
                                                     "index": self._index, "delta": delta}))
            out += self._close()
        self._held.clear()
        return out


class GeminiEncoder(Encoder):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self._tail = b"}"
        self._calls: dict[int, list[str]] = {}

    def _chunk(self, candidate: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
        body = {"candidates": [candidate], **(extra or {})}
        return b"data: " + orjson.dumps(body)[:-1] + self._tail + b"\n\n"

    def encode(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, TextDelta):
            content = {"role": "model", "parts": [{"text": event.text}]}
            return [self._chunk({"content": content, "index": 0})]
        if isinstance(event, ThinkingDelta):
            if not event.text:
                return []
            content = {"role": "model", "parts": [{"text": event.text, "thought": True}]}
            return [self._chunk({"content": content, "index": 0})]
        if isinstance(event, ToolDelta):
            self._calls.setdefault(event.call, ["", ""]).append(event.arguments)
            return []
        if isinstance(event, ToolStart):
            self._calls[event.call] = [event.id, event.name]
            return []
        if isinstance(event, Start):
            meta = {"modelVersion": event.model or self.model, "responseId": event.id}
            self._tail = b"," + orjson.dumps(meta)[1:]
            return []
        parts = [
            {"functionCall": {"name": name, "args": args_object("".join(fragments))}}
            for _id, name, *fragments in self._calls.values()
        ]
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or [{"text": ""}]},
                     "finishReason": gemini.finish_reason(event.finish), "index": 0}
        return [self._chunk(candidate, {"usageMetadata": gemini.usage_to(event.usage)})]
