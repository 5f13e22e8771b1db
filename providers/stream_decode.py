"""Upstream stream decoders: one upstream SSE event in, canonical stream events out.

Each decoder is a small state machine (sans-IO): ``feed`` takes one decoded SSE event,
``finish`` is called when the upstream ended, ``usage`` is cumulative. An upstream error
event raises the matching ``UpstreamError`` (the stream turns it into the inbound
dialect's error event).
"""

from __future__ import annotations

from typing import Any

import orjson

from providers import dialect_anthropic as anthropic
from providers import dialect_gemini as gemini
from providers.canonical import (
    End,
    Finish,
    Start,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolDelta,
    ToolStart,
    args_text,
    new_id,
    signed_id,
)
from providers.dialect_openai import usage_from as openai_usage
from providers.errors import UpstreamError, UpstreamServerError
from providers.http import upstream_error
from providers.sse import SSEEvent
from providers.types import Usage

__all__ = ["AnthropicDecoder", "Decoder", "GeminiDecoder", "OpenAIDecoder", "anthropic_error"]

_OPENAI_FINISH: dict[str, Finish] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_ANTHROPIC_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _load(provider: str, data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamServerError(
            f"upstream {provider!r} sent a malformed stream event", provider=provider
        ) from exc


def anthropic_error(provider: str, data: bytes) -> UpstreamError:
    """The error for an Anthropic ``event: error`` (overload keeps its 529)."""
    try:
        obj = orjson.loads(data)
        kind = str(obj["error"]["type"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        kind = "api_error"
    status = _ANTHROPIC_ERROR_STATUS.get(kind, 500)
    error = upstream_error(provider, status, data)
    if status == 529:
        error.status = 529
    return error


class Decoder:
    """Shared state: whether ``Start`` went out, the finish reason and the usage."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.usage = Usage()
        self.finish_reason: Finish | None = None
        self.started = False
        self.ended = False
        self.calls = 0

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        raise NotImplementedError

    def finish(self) -> list[StreamEvent]:
        """The upstream ended: close the turn unless it was closed already."""
        if self.ended:
            return []
        self.ended = True
        head: list[StreamEvent] = [] if self.started else [Start("", "", self.usage)]
        self.started = True
        return [*head, End(self.finish_reason, self.usage)]


class OpenAIDecoder(Decoder):
    """Chat-completions chunks; tool calls are keyed by their ``index``."""

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self._positions: dict[int, int] = {}

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        obj = _load(self.provider, event.data)
        out: list[StreamEvent] = []
        if not self.started:
            self.started = True
            out.append(Start(str(obj.get("id", "")), str(obj.get("model", "")), Usage()))
        usage = obj.get("usage")
        if usage:
            self.usage = openai_usage(usage)
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
            out.append(TextDelta(content))
        for call in delta.get("tool_calls") or ():
            index = call.get("index", len(self._positions))
            fn = call.get("function") or {}
            pos = self._positions.get(index)
            if pos is None:
                pos = self._positions[index] = self.calls
                self.calls += 1
                call_id = call.get("id") or new_id("call_", f"{pos}_{fn.get('name', '')}")
                out.append(ToolStart(pos, call_id, str(fn.get("name", ""))))
            args = fn.get("arguments")
            if args:
                out.append(ToolDelta(pos, args))
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = _OPENAI_FINISH.get(reason, "stop")


class AnthropicDecoder(Decoder):
    """Messages stream events; thinking and its signature become ``ThinkingDelta``s
    (redacted thinking has no place in other dialects)."""

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self._blocks: dict[int, int] = {}

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        if event.event == "ping":
            return []
        if event.event == "error":
            raise anthropic_error(self.provider, event.data)
        obj = _load(self.provider, event.data)
        kind = obj.get("type")
        if kind == "content_block_delta":
            return self._delta(obj)
        if kind == "content_block_start":
            return self._block(obj)
        if kind == "message_start":
            message = obj.get("message") or {}
            self.usage = anthropic.usage_from(message.get("usage"))
            self.started = True
            return [Start(str(message.get("id", "")), str(message.get("model", "")), self.usage)]
        if kind == "message_delta":
            self._message_delta(obj)
        elif kind == "message_stop":
            return self.finish()
        elif kind == "error":
            raise anthropic_error(self.provider, event.data)
        return []

    def _block(self, obj: dict[str, Any]) -> list[StreamEvent]:
        block = obj.get("content_block") or {}
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
            pos = self._blocks.get(int(obj.get("index", 0)))
            if pos is not None:
                return [ToolDelta(pos, str(delta["partial_json"]))]
        return []

    def _message_delta(self, obj: dict[str, Any]) -> None:
        reason = (obj.get("delta") or {}).get("stop_reason")
        if reason:
            self.finish_reason = anthropic.STOP_REASONS.get(reason, "stop")
        usage = obj.get("usage")
        if isinstance(usage, dict):
            now = anthropic.usage_from(usage)
            self.usage = Usage(
                input_tokens=now.input_tokens or self.usage.input_tokens,
                output_tokens=now.output_tokens,
                cache_read_tokens=now.cache_read_tokens or self.usage.cache_read_tokens,
                cache_write_tokens=now.cache_write_tokens or self.usage.cache_write_tokens,
            )


class GeminiDecoder(Decoder):
    """``streamGenerateContent?alt=sse`` chunks; each carries whole function calls."""

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        obj = _load(self.provider, event.data)
        if isinstance(obj, list):  # a JSON-array stream element (alt=sse not honoured)
            obj = obj[0] if obj else {}
        if "error" in obj:
            err = obj["error"]
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 502
            raise upstream_error(self.provider, status, event.data)
        out: list[StreamEvent] = []
        if not self.started:
            self.started = True
            out.append(Start(str(obj.get("responseId", "")), str(obj.get("modelVersion", "")),
                             Usage()))  # fmt: skip
        if "usageMetadata" in obj:
            self.usage = gemini.usage_from(obj["usageMetadata"])
        candidates = obj.get("candidates") or [{}]
        candidate = candidates[0]
        for part in (candidate.get("content") or {}).get("parts") or ():
            if "text" in part:
                if part["text"]:
                    text = str(part["text"])
                    out.append(ThinkingDelta(text) if part.get("thought") else TextDelta(text))
            elif "functionCall" in part:
                fc = part["functionCall"]
                pos = self.calls
                self.calls += 1
                name = str(fc.get("name", ""))
                base = str(fc.get("id") or new_id("call_", f"{name}_{pos}"))
                call_id = signed_id(base, str(part.get("thoughtSignature", "")))
                out.append(ToolStart(pos, call_id, name))
                out.append(ToolDelta(pos, args_text(fc.get("args"))))
        finish = gemini.finish_from(candidate, obj, self.calls > 0)
        if finish is not None:
            self.finish_reason = finish
        return out
