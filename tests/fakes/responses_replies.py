"""What OpenAI's own Responses API answers (``POST /v1/responses``), JSON or SSE, for the
fake OpenAI upstream: a text answer whose events carry ``event:`` lines as OpenAI sends."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["RESPONSES_TEXT", "call_reply", "responses_body", "responses_events"]

RESPONSES_TEXT = "Hello from the Responses fake."


def responses_body(model: str = "fake-model", response_id: str = "resp_upstream1"
                   ) -> dict[str, Any]:
    item = {"type": "message", "id": "msg_up1", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": RESPONSES_TEXT, "annotations": []}]}
    return {"id": response_id, "object": "response", "created_at": 1, "status": "completed",
            "model": model, "output": [item], "error": None, "incomplete_details": None,
            "usage": {"input_tokens": 13, "input_tokens_details": {"cached_tokens": 3},
                      "output_tokens": 6, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": 19},
            "upstream_only_field": {"kept": True}}


def responses_events(model: str = "fake-model") -> list[bytes]:
    """The SSE frames of the same answer (``event:`` + ``data:``, as OpenAI frames them)."""
    done = responses_body(model)
    item = done["output"][0]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**done, "status": "in_progress",
                                                  "output": [], "usage": None}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.output_text.delta", "item_id": "msg_up1", "output_index": 0,
         "content_index": 0, "delta": RESPONSES_TEXT},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done},
    ]
    return [b"event: " + e["type"].encode() + b"\ndata: "
            + orjson.dumps({**e, "sequence_number": n}) + b"\n\n"
            for n, e in enumerate(events)]


def call_reply(wire: str, name: str, args: dict[str, Any]) -> Any:
    """A streamed answer that is one call of tool ``name`` with ``args``, in ``wire``'s
    format (what a model answers when an agent should run a command)."""
    from tests.fakes.openai_upstream import Sse
    from tests.fakes.replies import anthropic_event

    text = orjson.dumps(args).decode()
    if wire == "anthropic":
        message = {"id": "msg_call", "type": "message", "role": "assistant", "model": "c",
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 20, "output_tokens": 1}}
        block = {"type": "tool_use", "id": "toolu_call1", "name": name, "input": {}}
        return Sse([
            anthropic_event("message_start", {"message": message}),
            anthropic_event("content_block_start", {"index": 0, "content_block": block}),
            anthropic_event("content_block_delta", {"index": 0, "delta": {
                "type": "input_json_delta", "partial_json": text}}),
            anthropic_event("content_block_stop", {"index": 0}),
            anthropic_event("message_delta", {"delta": {"stop_reason": "tool_use",
                                                        "stop_sequence": None},
                                              "usage": {"output_tokens": 9}}),
            anthropic_event("message_stop", {})])
    if wire == "gemini":
        return Sse([{"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": name, "args": args}}]}, "finishReason": "STOP",
            "index": 0}], "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9,
                                            "totalTokenCount": 29}}])
    head = {"id": "chatcmpl-call", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": name, "arguments": text}}
    return Sse([
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]},
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**head, "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 9,
                                          "total_tokens": 29}},
        "[DONE]"])
