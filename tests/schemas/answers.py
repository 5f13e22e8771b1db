"""Upstream answers whose text is a given JSON document, in each wire format (JSON or SSE),
and Anthropic's answer by the tool-forcing pattern (the output tool called with it)."""

from __future__ import annotations

from typing import Any

import orjson

from providers.dialects.anthropic.output import OUTPUT_TOOL
from tests.fakes.openai_upstream import Json, Sse, chat_chunks, chat_completion
from tests.fakes.replies import anthropic_event

__all__ = ["answer", "output_tool_answer"]

_USAGE = {"input_tokens": 11, "output_tokens": 5}


def _pieces(text: str) -> list[str]:
    return [text[i:i + 7] for i in range(0, len(text), 7)]


def _anthropic_message(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-fake",
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": _USAGE}


def _anthropic_stream(block: dict[str, Any], deltas: list[dict[str, Any]], stop: str
                      ) -> list[Any]:
    start = {**_anthropic_message([], stop), "stop_reason": None}
    return [
        anthropic_event("message_start", {"message": start}),
        anthropic_event("content_block_start", {"index": 0, "content_block": block}),
        *[anthropic_event("content_block_delta", {"index": 0, "delta": d}) for d in deltas],
        anthropic_event("content_block_stop", {"index": 0}),
        anthropic_event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                          "usage": {"output_tokens": 5}}),
        anthropic_event("message_stop", {}),
    ]  # fmt: skip


def _gemini(text: str, last: bool = True) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]},
                                 "index": 0}
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-fake"}
    if last:
        candidate["finishReason"] = "STOP"
        out["usageMetadata"] = {"promptTokenCount": 11, "candidatesTokenCount": 5,
                                "totalTokenCount": 16}
    return out


def answer(wire: str, value: Any, *, stream: bool) -> Json | Sse:
    """The upstream's answer whose text is ``value`` as JSON."""
    text = orjson.dumps(value).decode()
    if wire == "anthropic":
        if not stream:
            return Json(_anthropic_message([{"type": "text", "text": text}], "end_turn"))
        deltas = [{"type": "text_delta", "text": p} for p in _pieces(text)]
        return Sse(_anthropic_stream({"type": "text", "text": ""}, deltas, "end_turn"))
    if wire == "gemini":
        if not stream:
            return Json(_gemini(text))
        pieces = _pieces(text)
        return Sse([_gemini(p, last=i == len(pieces) - 1) for i, p in enumerate(pieces)])
    return Sse(chat_chunks(_pieces(text))) if stream else Json(chat_completion(text))


def output_tool_answer(value: Any, *, stream: bool) -> Json | Sse:
    """Anthropic calling the output tool with ``value`` (how tool-forcing answers)."""
    block = {"type": "tool_use", "id": "toolu_out", "name": OUTPUT_TOOL, "input": value}
    if not stream:
        return Json(_anthropic_message([block], "tool_use"))
    deltas = [{"type": "input_json_delta", "partial_json": p}
              for p in _pieces(orjson.dumps(value).decode())]
    return Sse(_anthropic_stream({**block, "input": {}}, deltas, "tool_use"))
