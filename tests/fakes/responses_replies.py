"""What OpenAI's own Responses API answers (``POST /v1/responses``), JSON or SSE, for the
fake OpenAI upstream: a text answer whose events carry ``event:`` lines as OpenAI sends."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["RESPONSES_TEXT", "responses_body", "responses_events"]

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
