"""OpenAI Responses answers <-> canonical form: the ``response`` object, pure.

An answer's output items, its status, the request fields a ``response`` repeats, and the
finishing touch a translated answer gets for the client that asked (its custom and
namespaced tools' calls in the shape it declared them).
"""

from __future__ import annotations

import time
from typing import Any, Final

from providers.canonical import (
    Finish,
    Part,
    Response,
    Text,
    Thinking,
    ToolCall,
    new_id,
    signed_id,
)
from providers.dialects.responses.messages import ASSISTANT_ITEMS, assistant_part, content
from providers.dialects.responses.wire import (
    ToolKinds,
    new_response_id,
    reasoning_envelope,
    usage_from,
    usage_to,
)

__all__ = [
    "echoed",
    "finish_response",
    "output_items",
    "response_from",
    "response_object",
    "response_to",
    "status_of",
]

def status_of(finish: Finish | None) -> tuple[str, dict[str, Any] | None]:
    """The response ``status`` and ``incomplete_details`` a finish reason gives."""
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def output_items(parts: list[Part], kinds: ToolKinds, seed: str) -> list[dict[str, Any]]:
    """The ``output`` items of an answer's parts (``seed`` makes their ids)."""
    items: list[dict[str, Any]] = []
    text = [p for p in parts if isinstance(p, Text)]
    for i, part in enumerate(parts):
        if isinstance(part, Thinking):
            item: dict[str, Any] = {
                "type": "reasoning", "id": f"rs_{seed}_{i}",
                "summary": [{"type": "summary_text", "text": part.text}] if part.text else []}
            if part.raw is not None and not part.unsigned:
                item["encrypted_content"] = reasoning_envelope(part.raw)
            items.append(item)
        elif isinstance(part, ToolCall):
            call_id = signed_id(part.id, part.signature) or new_id("call_", f"{seed}_{i}")
            items.append(kinds.call_item(f"fc_{seed}_{i}", call_id, part.name,
                                         part.arguments or "{}"))
    if text:
        message = {"type": "message", "id": f"msg_{seed}", "status": "completed",
                   "role": "assistant",
                   "content": [{"type": "output_text", "text": "".join(t.text for t in text),
                                "annotations": [], "logprobs": []}]}
        # Text first, as models answer (a call after its preamble), reasoning before both.
        at = next((n for n, it in enumerate(items) if it["type"] != "reasoning"), len(items))
        items.insert(at, message)
    return items


_ECHOED: Final = ("instructions", "max_output_tokens", "parallel_tool_calls",
                  "previous_response_id", "reasoning", "store", "temperature", "text",
                  "tool_choice", "tools", "top_p", "truncation", "user", "metadata")
"""Request fields a ``response`` object repeats (the SDKs read them back)."""


def echoed(request: dict[str, Any]) -> dict[str, Any]:
    """The fields of the client's ``request`` a ``response`` object repeats."""
    return {
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "store": request.get("store", True), "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools") or [],
        "top_p": request.get("top_p"), "truncation": request.get("truncation", "disabled"),
        "user": request.get("user"), "metadata": request.get("metadata") or {},
    }


def response_object(response_id: str, model: str, output: list[dict[str, Any]],
                    usage: dict[str, Any] | None, status: str = "completed",
                    incomplete: dict[str, Any] | None = None,
                    request: dict[str, Any] | None = None) -> dict[str, Any]:
    """A whole ``response`` object; ``request`` (the client's body) fills the echoed
    fields the SDKs read (instructions, tools, metadata, ...), left out without it."""
    body = {
        "id": response_id, "object": "response", "created_at": int(time.time()),
        "status": status, "error": None, "incomplete_details": incomplete, "model": model,
        "output": output, "usage": usage,
    }
    if request is not None:
        body.update(echoed(request))
    return body


def finish_response(body: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A complete answer made ready for the client that sent ``request``: the echoed
    fields an upstream left out, and each call in the shape the client declared its tool
    (a custom tool's call as ``custom_tool_call``, a namespaced one with its namespace)."""
    for name, value in echoed(request).items():
        body.setdefault(name, value)
    kinds = ToolKinds.of(request)
    if kinds.custom or kinds.namespaced:
        body["output"] = [
            kinds.call_item(str(item.get("id", "")), str(item.get("call_id", "")),
                            str(item.get("name", "")), str(item.get("arguments") or "{}"),
                            str(item.get("status") or "completed"))
            if isinstance(item, dict) and item.get("type") == "function_call"
            and "namespace" not in item else item
            for item in body.get("output") or ()]
    return body


def response_to(response: Response, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render a canonical response as a Responses ``response`` object."""
    rid = response.id if response.id.startswith("resp_") else new_response_id()
    seed = rid.removeprefix("resp_")[:24]
    status, incomplete = status_of(response.finish)
    output = output_items(response.parts, ToolKinds.of(request), seed)
    return response_object(rid, response.model, output, usage_to(response.usage), status,
                           incomplete, request)


def response_from(body: dict[str, Any]) -> Response:
    """Parse a complete Responses ``response`` object."""
    parts: list[Part] = []
    for item in body.get("output") or ():
        kind = item.get("type")
        if kind == "message":
            parts += content(item.get("content"))
        elif kind in ASSISTANT_ITEMS:
            part = assistant_part(item)
            if part is not None:
                parts.append(part)
    finish: Finish = "tool_calls" if any(isinstance(p, ToolCall) for p in parts) else "stop"
    details = body.get("incomplete_details")
    if body.get("status") == "incomplete" and isinstance(details, dict):
        finish = "content_filter" if details.get("reason") == "content_filter" else "length"
    return Response(str(body.get("id", "")), str(body.get("model", "")), parts, finish,
                    usage_from(body.get("usage")))

