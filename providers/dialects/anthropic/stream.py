"""Anthropic Messages streams: the upstream decoder and the inbound encoder.

The encoder gives every frame ``event:`` and ``data:``; blocks are strictly sequential. The
first tool call streams live; calls that start while another is open are held and sent
whole at the end, so interleaved parallel calls keep their own arguments. ``stop_reason`` is
``tool_use`` only when a tool_use block went out. Reasoning becomes a thinking block, signed
by the upstream or marked ``UNSIGNED_THINKING``.
"""

from __future__ import annotations

from typing import Any

import orjson

from providers.canonical import (
    UNSIGNED_THINKING,
    End,
    Start,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolDelta,
    ToolStart,
    log,
    new_id,
)
from providers.dialects.anthropic.errors import anthropic_error
from providers.dialects.anthropic.messages import STOP_REASONS, stop_reason, usage_from, usage_to
from providers.dialects.anthropic.output import OUTPUT_TOOL
from providers.dialects.streams import Decoder, Encoder, load_event
from providers.sse import SSEEvent
from providers.types import Usage

__all__ = ["AnthropicDecoder", "AnthropicEncoder"]


class AnthropicDecoder(Decoder):
    """Messages stream events; thinking and its signature become ``ThinkingDelta``s
    (redacted thinking has no place in other dialects)."""

    terminal = "message_stop"

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self._blocks: dict[int, int] = {}
        # The output tool's block (see output.py): index -> whether any input came yet.
        self._output: dict[int, bool] = {}

    def read(self, event: SSEEvent) -> list[StreamEvent]:
        if event.event == "ping":
            return []
        if event.event == "error":
            raise anthropic_error(self.provider, event.data)
        obj = load_event(self.provider, event.data)
        kind = obj.get("type")
        if kind == "content_block_delta":
            return self._delta(obj)
        if kind == "content_block_start":
            return self._block(obj)
        if kind == "message_start":
            message = obj.get("message") or {}
            self.usage = usage_from(message.get("usage"))
            self.started = True
            return [Start(str(message.get("id", "")), str(message.get("model", "")), self.usage)]
        if kind == "message_delta":
            self._message_delta(obj)
        elif kind == "message_stop":
            self.finish_reason = self.finish_reason or "stop"  # whole, if without a reason
            return self.finish()
        elif kind == "content_block_stop":
            return self._block_stop(obj)
        elif kind == "error":
            raise anthropic_error(self.provider, event.data)
        return []

    def _block(self, obj: dict[str, Any]) -> list[StreamEvent]:
        block = obj.get("content_block") or {}
        if block.get("type") == "tool_use" and block.get("name") == OUTPUT_TOOL:
            self._output[int(obj.get("index", 0))] = False
            return []
        if block.get("type") == "tool_use":
            pos = self._blocks[int(obj.get("index", 0))] = self.calls
            self.calls += 1
            return [ToolStart(pos, str(block.get("id", "")), str(block.get("name", "")))]
        if block.get("type") == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        return []

    def _delta(self, obj: dict[str, Any]) -> list[StreamEvent]:
        delta = obj.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(str(delta.get("text", "")))]
        if kind == "thinking_delta":
            return [ThinkingDelta(str(delta.get("thinking", "")))]
        if kind == "signature_delta":
            return [ThinkingDelta("", str(delta.get("signature", "")))]
        if kind == "input_json_delta" and delta.get("partial_json"):
            index = int(obj.get("index", 0))
            if index in self._output:  # the answer, streamed as the output tool's input
                self._output[index] = True
                return [TextDelta(str(delta["partial_json"]))]
            pos = self._blocks.get(index)
            if pos is not None:
                return [ToolDelta(pos, str(delta["partial_json"]))]
        return []

    def _block_stop(self, obj: dict[str, Any]) -> list[StreamEvent]:
        # An output tool called with no input streamed still answered: an empty object.
        index = int(obj.get("index", 0))
        if self._output.get(index) is False:
            self._output[index] = True
            return [TextDelta("{}")]
        return []

    def _message_delta(self, obj: dict[str, Any]) -> None:
        reason = (obj.get("delta") or {}).get("stop_reason")
        if reason:
            self.finish_reason = STOP_REASONS.get(reason, "stop")
            if self.finish_reason == "tool_calls" and not self.calls:
                self.finish_reason = "stop"  # only the output tool was called
        usage = obj.get("usage")
        if isinstance(usage, dict):
            now = usage_from(usage)
            self.usage = Usage(
                input_tokens=now.input_tokens or self.usage.input_tokens,
                output_tokens=now.output_tokens,
                cache_read_tokens=now.cache_read_tokens or self.usage.cache_read_tokens,
                cache_write_tokens=now.cache_write_tokens or self.usage.cache_write_tokens,
            )


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
                   "stop_sequence": None, "usage": usage_to(event.usage)}  # fmt: skip
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
        reason = stop_reason(event.finish or "stop", self._tool_blocks > 0)
        out.append(_sse(b"message_delta", {
            "type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": usage_to(event.usage)}))  # fmt: skip
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
