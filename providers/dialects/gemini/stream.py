"""Gemini streams (``streamGenerateContent?alt=sse``): the upstream decoder and the inbound
encoder.

The encoder sends text chunks as they come; function calls are whole objects in Gemini, so
their arguments are gathered and sent with the final chunk (finishReason, usageMetadata).
"""

from __future__ import annotations

from typing import Any

import orjson

from providers.canonical import (
    Start,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolDelta,
    ToolStart,
    args_object,
    args_text,
    new_id,
    signed_id,
)
from providers.dialects.gemini.messages import finish_from, finish_reason, usage_from, usage_to
from providers.dialects.streams import Decoder, Encoder, load_event
from providers.sse import SSEEvent
from providers.types import Usage
from providers.upstream_errors import upstream_error

__all__ = ["GeminiDecoder", "GeminiEncoder"]


class GeminiDecoder(Decoder):
    """``streamGenerateContent?alt=sse`` chunks; each carries whole function calls."""

    terminal = "a finishReason"

    def read(self, event: SSEEvent) -> list[StreamEvent]:
        obj = load_event(self.provider, event.data)
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
            self.usage = usage_from(obj["usageMetadata"])
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
        finish = finish_from(candidate, obj, self.calls > 0)
        if finish is not None:
            self.finish_reason = finish
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
                     "finishReason": finish_reason(event.finish), "index": 0}
        return [self._chunk(candidate, {"usageMetadata": usage_to(event.usage)})]
