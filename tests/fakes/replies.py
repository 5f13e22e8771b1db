"""Scripted upstream answers in each wire format: a text reply or a tool call, JSON or SSE.

``reply(dialect, kind, stream=...)`` returns an action for any fake upstream's script
(``Json`` or ``Sse``). Text is ``TEXT``; the tool call is ``TOOL_NAME`` with ``TOOL_ARGS``.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.fakes.openai_upstream import Json, Sse, chat_chunks, chat_completion

__all__ = ["TEXT", "TOOL_ARGS", "TOOL_NAME", "anthropic_event", "anthropic_sse", "reply"]

TEXT = "Hello from the fake."
WORDS = ["Hello", " from", " the", " fake."]
TOOL_NAME = "get_weather"
TOOL_ARGS: dict[str, Any] = {"city": "Paris", "days": 2}


def _openai(kind: str, stream: bool) -> Any:
    if kind == "text":
        return Sse(chat_chunks(WORDS)) if stream else Json(chat_completion(TEXT))
    call = {"id": "call_1", "type": "function",
            "function": {"name": TOOL_NAME, "arguments": orjson.dumps(TOOL_ARGS).decode()}}
    if not stream:
        body = chat_completion("")
        body["choices"][0]["message"] = {"role": "assistant", "content": None,
                                         "tool_calls": [call]}
        body["choices"][0]["finish_reason"] = "tool_calls"
        return Json(body)
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    args = call["function"]["arguments"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    first = {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": TOOL_NAME, "arguments": ""}}
    events: list[Any] = [chunk({"role": "assistant", "content": None, "tool_calls": [first]})]
    events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 5]}}]})
               for i in range(0, len(args), 5)]
    events.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}
    events += [{**head, "choices": [], "usage": usage}, "[DONE]"]
    return Sse(events)


def anthropic_message(kind: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": TEXT}]
    if kind == "tools":
        content = [{"type": "tool_use", "id": "toolu_1", "name": TOOL_NAME, "input": TOOL_ARGS}]
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-fake",
            "content": content, "stop_reason": "tool_use" if kind == "tools" else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 5, "cache_read_input_tokens": 3,
                      "cache_creation_input_tokens": 0}}


def anthropic_event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def anthropic_sse(kind: str, *, error_after: int | None = None) -> list[Any]:
    message = {**anthropic_message(kind), "content": [], "stop_reason": None}
    message["usage"] = {**message["usage"], "output_tokens": 1}
    events = [anthropic_event("message_start", {"message": message}), anthropic_event("ping", {})]
    if kind == "text":
        events.append(anthropic_event("content_block_start",
                             {"index": 0, "content_block": {"type": "text", "text": ""}}))
        events += [anthropic_event("content_block_delta",
                          {"index": 0, "delta": {"type": "text_delta", "text": w}})
                   for w in WORDS]
    else:
        block = {"type": "tool_use", "id": "toolu_1", "name": TOOL_NAME, "input": {}}
        args = orjson.dumps(TOOL_ARGS).decode()
        events.append(anthropic_event("content_block_start", {"index": 0, "content_block": block}))
        events += [anthropic_event("content_block_delta",
                          {"index": 0, "delta": {"type": "input_json_delta",
                                                 "partial_json": args[i:i + 4]}})
                   for i in range(0, len(args), 4)]
    if error_after is not None:
        error = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
        return [*events[:error_after], anthropic_event("error", error)]
    events.append(anthropic_event("content_block_stop", {"index": 0}))
    reason = "tool_use" if kind == "tools" else "end_turn"
    events.append(anthropic_event("message_delta", {"delta": {"stop_reason": reason,
                                                     "stop_sequence": None},
                                           "usage": {"output_tokens": 5}}))
    events.append(anthropic_event("message_stop", {}))
    return events


def gemini_response(kind: str, *, finish: str = "STOP") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": TEXT}]
    if kind == "tools":
        parts = [{"functionCall": {"name": TOOL_NAME, "args": TOOL_ARGS}}]
    return {"candidates": [{"content": {"role": "model", "parts": parts},
                            "finishReason": finish, "index": 0}],
            "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 5,
                              "totalTokenCount": 16},
            "modelVersion": "gemini-fake", "responseId": "resp_fake"}


def gemini_chunks(kind: str) -> list[Any]:
    if kind == "tools":
        return [gemini_response("tools")]
    usage = {"promptTokenCount": 11, "candidatesTokenCount": 5, "totalTokenCount": 16}
    chunks: list[Any] = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": w}]}, "index": 0}],
         "modelVersion": "gemini-fake", "responseId": "resp_fake"}
        for w in WORDS
    ]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    chunks[-1]["usageMetadata"] = usage
    return chunks


def reply(dialect: str, kind: str, *, stream: bool) -> Any:
    """An answer with text (``kind="text"``) or one tool call (``kind="tools"``)."""
    if dialect == "anthropic":
        return Sse(anthropic_sse(kind)) if stream else Json(anthropic_message(kind))
    if dialect == "gemini":
        return Sse(gemini_chunks(kind)) if stream else Json(gemini_response(kind))
    return _openai(kind, stream)
