"""What an exchange said, read back from the bytes a client sent and was sent (the audit log).

``request_shape``: a request's shape without its content (message count, tool names, the
sampling parameters). ``reply_output`` and :class:`StreamTranscript`: the answer as text, tool
calls and finish reason, from a JSON reply or from a stream's SSE bytes in the client's
dialect, assembled with that dialect's own stream decoder. Pure and sans-IO; a body that does
not read (a malformed one, an error event) gives what could be read, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from providers.canonical import (
    End,
    Request,
    Text,
    TextDelta,
    ToolCall,
    ToolDelta,
    ToolStart,
)
from providers.dialects.anthropic import ANTHROPIC
from providers.dialects.gemini import GEMINI
from providers.dialects.openai import OPENAI
from providers.dialects.responses import RESPONSES
from providers.dialects.spec import DialectSpec
from providers.dialects.streams import SHAPE_ERRORS
from providers.errors import ProviderError
from providers.sse import SSEDecoder
from providers.types import Dialect

__all__ = ["StreamTranscript", "reply_output", "request_shape"]

_SPECS: dict[Dialect, DialectSpec] = {"openai": OPENAI, "anthropic": ANTHROPIC,
                                      "gemini": GEMINI, "responses": RESPONSES}
_UNREADABLE = (ProviderError, orjson.JSONDecodeError, *SHAPE_ERRORS)


def request_shape(dialect: Dialect, body: dict[str, Any]) -> dict[str, Any]:
    """Message count, tool names and sampling parameters of a request (no content)."""
    try:
        request: Request = _SPECS[dialect].parse_request(body)
    except _UNREADABLE:
        return {}
    shape: dict[str, Any] = {"messages": len(request.messages),
                             "tools": [tool.name for tool in request.tools]}
    sampling = {"max_tokens": request.max_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "top_k": request.top_k,
                "stop": request.stop or None, "tool_choice": request.tool_choice}
    shape["sampling"] = {name: value for name, value in sampling.items() if value is not None}
    return shape


def reply_output(dialect: Dialect, body: bytes) -> dict[str, Any]:
    """Text, tool calls and finish reason of a non-streamed JSON reply."""
    try:
        response = _SPECS[dialect].parse_response(orjson.loads(body))
    except _UNREADABLE:
        return {}
    text = "".join(part.text for part in response.parts if isinstance(part, Text))
    calls = [{"id": part.id, "name": part.name, "arguments": part.arguments}
             for part in response.parts if isinstance(part, ToolCall)]
    return {"text": text, "tool_calls": calls, "finish_reason": response.finish}


class StreamTranscript:
    """A stream's output assembled from its SSE bytes (fed chunk by chunk, in order)."""

    def __init__(self, dialect: Dialect) -> None:
        self._sse = SSEDecoder()
        self._decoder = _SPECS[dialect].decoder("client")
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._broken = False

    def feed(self, chunk: bytes) -> None:
        if not self._broken:
            self._events(self._sse.feed(chunk))

    def output(self, chunks: Iterable[bytes] = ()) -> dict[str, Any]:
        """Feed ``chunks``, then the assembled text, tool calls and finish reason."""
        for chunk in chunks:
            self.feed(chunk)
        if not self._broken:
            self._events(self._sse.flush())
        if not self._broken:
            for item in self._decoder.finish():
                self._take(item)
        if self._finish is None:  # cut short: what the stream had said before
            self._finish = self._decoder.finish_reason
        calls = [{**call, "arguments": "".join(call["arguments"])}
                 for _, call in sorted(self._calls.items())]
        return {"text": "".join(self._text), "tool_calls": calls,
                "finish_reason": self._finish}

    def _events(self, events: Iterable[Any]) -> None:
        try:
            for event in events:
                if event.data == b"[DONE]":  # OpenAI's end marker, not an event
                    continue
                for item in self._decoder.feed(event):
                    self._take(item)
        except _UNREADABLE:
            self._broken = True  # an error event ends what the client was told

    def _take(self, item: Any) -> None:
        if isinstance(item, TextDelta):
            self._text.append(item.text)
        elif isinstance(item, ToolStart):
            self._calls[item.call] = {"id": item.id, "name": item.name, "arguments": []}
        elif isinstance(item, ToolDelta) and item.call in self._calls:
            self._calls[item.call]["arguments"].append(item.arguments)
        elif isinstance(item, End):
            self._finish = item.finish
        # Start carries nothing of the answer; reasoning is not part of its text.
