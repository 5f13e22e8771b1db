"""Responses streams: the inbound encoder and the upstream decoder.

The encoder sends, each with an increasing ``sequence_number`` and an ``event:`` line:
``response.created``, ``response.in_progress``; per output item ``output_item.added``, its
deltas (``content_part.added`` + ``output_text.delta``, ``reasoning_summary_part.added`` +
``reasoning_summary_text.delta``, ``function_call_arguments.delta``), their ``.done`` events
and ``output_item.done`` with the whole item (Codex builds its turn from those alone); then
``response.completed`` (or ``response.incomplete``) whose ``output`` is exactly the done
items and whose ``usage`` has ``total_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
)
from providers.dialects.responses.answers import response_object, status_of
from providers.dialects.responses.wire import (
    ToolKinds,
    new_response_id,
    reasoning_envelope,
    usage_from,
    usage_to,
)
from providers.dialects.streams import Decoder, Encoder, load_event
from providers.errors import UpstreamServerError
from providers.sse import SSEEvent
from providers.types import Usage

__all__ = ["ResponsesDecoder", "ResponsesEncoder", "frame"]


def frame(kind: str, data: dict[str, Any]) -> bytes:
    """One SSE event with its ``event:`` line (the type is in the data too)."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass(slots=True)
class _Item:
    """An output item being streamed."""

    kind: str  # message, reasoning, call
    index: int
    id: str
    text: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    signature: str = ""


class ResponsesEncoder(Encoder):
    """Canonical stream events in, Responses SSE events out."""

    def __init__(self, model: str, request: dict[str, Any] | None = None) -> None:
        super().__init__(model)
        self._request = request or {}
        self._kinds = ToolKinds.of(request)
        self._id = new_response_id()
        self._seed = self._id.removeprefix("resp_")[:24]
        self._seq = 0
        self._output: list[dict[str, Any] | None] = []
        self._open: _Item | None = None  # the message or reasoning item being written
        self._calls: dict[int, _Item] = {}  # open calls by their canonical number
        self._model = model

    @property
    def response_id(self) -> str:
        return self._id

    def _emit(self, kind: str, data: dict[str, Any]) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return frame(kind, data)

    def _response(self, status: str, usage: dict[str, Any] | None = None,
                  incomplete: dict[str, Any] | None = None) -> dict[str, Any]:
        output = [item for item in self._output if item is not None]
        return response_object(self._id, self._model, output, usage, status, incomplete,
                               self._request)

    def encode(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, ThinkingDelta):
            return self._thinking(event)
        if isinstance(event, ToolStart):
            return self._tool_start(event)
        if isinstance(event, ToolDelta):
            return self._tool_delta(event)
        if isinstance(event, Start):
            self._model = event.model or self._model
            return [self._emit("response.created", {"response": self._response("in_progress")}),
                    self._emit("response.in_progress",
                               {"response": self._response("in_progress")})]
        return self._end(event)

    def _new(self, kind: str, prefix: str) -> _Item:
        index = len(self._output)
        self._output.append(None)  # its place, filled when the item is done
        return _Item(kind, index, f"{prefix}_{self._seed}_{index}")

    def _text(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        item = self._open
        if item is None or item.kind != "message":
            out += self._close_open()
            item = self._open = self._new("message", "msg")
            out.append(self._emit("response.output_item.added", {
                "output_index": item.index,
                "item": {"type": "message", "id": item.id, "status": "in_progress",
                         "role": "assistant", "content": []}}))
            out.append(self._emit("response.content_part.added", {
                "item_id": item.id, "output_index": item.index, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}))
        item.text.append(text)
        out.append(self._emit("response.output_text.delta", {
            "item_id": item.id, "output_index": item.index, "content_index": 0,
            "delta": text, "logprobs": []}))
        return out

    def _thinking(self, event: ThinkingDelta) -> list[bytes]:
        out: list[bytes] = []
        item = self._open
        if item is None or item.kind != "reasoning":
            out += self._close_open()
            item = self._open = self._new("reasoning", "rs")
            out.append(self._emit("response.output_item.added", {
                "output_index": item.index,
                "item": {"type": "reasoning", "id": item.id, "summary": []}}))
            out.append(self._emit("response.reasoning_summary_part.added", {
                "item_id": item.id, "output_index": item.index, "summary_index": 0,
                "part": {"type": "summary_text", "text": ""}}))
        item.signature = event.signature or item.signature
        if event.text:
            item.text.append(event.text)
            out.append(self._emit("response.reasoning_summary_text.delta", {
                "item_id": item.id, "output_index": item.index, "summary_index": 0,
                "delta": event.text}))
        return out

    def _tool_start(self, event: ToolStart) -> list[bytes]:
        out = self._close_open()
        item = self._new("call", "fc")
        item.call_id, item.name = event.id, event.name
        self._calls[event.call] = item
        added = self._kinds.call_item(item.id, item.call_id, item.name, "", "in_progress")
        if added["type"] == "custom_tool_call":
            added["input"] = ""
        out.append(self._emit("response.output_item.added",
                              {"output_index": item.index, "item": added}))
        return out

    def _tool_delta(self, event: ToolDelta) -> list[bytes]:
        item = self._calls.get(event.call)
        if item is None:
            return []
        item.text.append(event.arguments)
        if self._kinds.is_custom(item.name):
            return []  # a custom tool's input is its raw text, known only once complete
        return [self._emit("response.function_call_arguments.delta", {
            "item_id": item.id, "output_index": item.index, "delta": event.arguments})]

    def _close_open(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        text = "".join(item.text)
        if item.kind == "message":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            done = {"type": "message", "id": item.id, "status": "completed",
                    "role": "assistant", "content": [part]}
            return self._done(item, done, [
                self._emit("response.output_text.done", {
                    "item_id": item.id, "output_index": item.index, "content_index": 0,
                    "text": text, "logprobs": []}),
                self._emit("response.content_part.done", {
                    "item_id": item.id, "output_index": item.index, "content_index": 0,
                    "part": part})])
        summary = {"type": "summary_text", "text": text}
        done = {"type": "reasoning", "id": item.id, "summary": [summary] if text else []}
        if item.signature:
            done["encrypted_content"] = reasoning_envelope(
                {"type": "thinking", "thinking": text, "signature": item.signature})
        return self._done(item, done, [
            self._emit("response.reasoning_summary_text.done", {
                "item_id": item.id, "output_index": item.index, "summary_index": 0,
                "text": text}),
            self._emit("response.reasoning_summary_part.done", {
                "item_id": item.id, "output_index": item.index, "summary_index": 0,
                "part": summary})])

    def _close_call(self, item: _Item) -> list[bytes]:
        arguments = "".join(item.text) or "{}"
        done = self._kinds.call_item(item.id, item.call_id, item.name, arguments)
        head: list[bytes] = []
        if done["type"] == "custom_tool_call":
            head.append(self._emit("response.custom_tool_call_input.done", {
                "item_id": item.id, "output_index": item.index, "input": done["input"]}))
        else:
            head.append(self._emit("response.function_call_arguments.done", {
                "item_id": item.id, "output_index": item.index, "name": done["name"],
                "arguments": arguments}))
        return self._done(item, done, head)

    def _done(self, item: _Item, done: dict[str, Any], head: list[bytes]) -> list[bytes]:
        self._output[item.index] = done
        return [*head, self._emit("response.output_item.done",
                                  {"output_index": item.index, "item": done})]

    def _end(self, event: End) -> list[bytes]:
        out = self._close_open()
        for call in sorted(self._calls.values(), key=lambda c: c.index):
            out += self._close_call(call)
        self._calls.clear()
        status, incomplete = status_of(event.finish)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._emit(kind, {"response": self._response(
            status, usage_to(event.usage), incomplete)}))
        return out


class ResponsesDecoder(Decoder):
    """A Responses upstream's events as canonical ones (text, reasoning, calls, usage)."""

    terminal = "response.completed"

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self._calls: dict[str, int] = {}

    def read(self, event: SSEEvent) -> list[StreamEvent]:
        obj = load_event(self.provider, event.data)
        kind = obj.get("type")
        out: list[StreamEvent] = []
        if not self.started and kind in ("response.created", "response.in_progress"):
            self.started = True
            response = obj.get("response") or {}
            return [Start(str(response.get("id", "")), str(response.get("model", "")), Usage())]
        if kind == "response.output_text.delta":
            out.append(TextDelta(str(obj.get("delta", ""))))
        elif kind == "response.reasoning_summary_text.delta":
            out.append(ThinkingDelta(str(obj.get("delta", ""))))
        elif kind == "response.output_item.added":
            item = obj.get("item") or {}
            if item.get("type") == "function_call":
                self._calls[str(item.get("id", ""))] = call = self.calls
                self.calls += 1
                out.append(ToolStart(call, str(item.get("call_id", "")),
                                     str(item.get("name", ""))))
        elif kind == "response.function_call_arguments.delta":
            number = self._calls.get(str(obj.get("item_id", "")))
            if number is not None:
                out.append(ToolDelta(number, str(obj.get("delta", ""))))
        elif kind in ("response.completed", "response.incomplete"):
            response = obj.get("response") or {}
            self.usage = usage_from(response.get("usage"))
            incomplete = kind == "response.incomplete"
            self.finish_reason = "length" if incomplete else (
                "tool_calls" if self.calls else "stop")
        elif kind in ("response.failed", "error"):
            response = obj.get("response") or {}
            err = response.get("error") or obj
            raise UpstreamServerError(
                f"upstream {self.provider!r} failed: {err.get('message', 'no detail')}",
                provider=self.provider)
        return out
