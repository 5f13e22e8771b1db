"""Anthropic Messages <-> canonical form (requests and complete responses), pure.

Thinking and redacted_thinking blocks keep their original JSON (``Thinking.raw``) so an
Anthropic-to-Anthropic path would replay them byte-exact; other dialects drop them.
"""

from __future__ import annotations

from typing import Any

from providers.canonical import (
    UNSIGNED_THINKING,
    Finish,
    Media,
    Message,
    Part,
    Request,
    Response,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
    args_object,
    args_text,
    as_int,
    dropped,
    new_id,
)
from providers.dialects.anthropic.output import OUTPUT_TOOL, output_from, render_output
from providers.types import Usage

__all__ = [
    "STOP_REASONS",
    "request_from",
    "request_to",
    "response_from",
    "response_to",
    "stop_reason",
    "usage_from",
    "usage_to",
]

_KNOWN = frozenset(
    {
        "model", "messages", "system", "tools", "tool_choice", "max_tokens", "temperature",
        "top_p", "top_k", "stop_sequences", "stream", "metadata", "output_format",
        "output_config",
    }
)  # fmt: skip
STOP_REASONS: dict[str, Finish] = {
    "end_turn": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _source(kind: Any, block: dict[str, Any]) -> Media:
    source = block.get("source") or {}
    if source.get("type") == "url":
        return Media(kind, url=str(source.get("url", "")))
    if source.get("type") == "text":
        return Media(kind, "text/plain", str(source.get("data", "")))
    return Media(kind, str(source.get("media_type", "")), str(source.get("data", "")))


def _result_content(content: Any) -> list[Text | Media]:
    if isinstance(content, str):
        return [Text(content)]
    out: list[Text | Media] = []
    for block in content if isinstance(content, list) else []:
        part = _block(block)
        if isinstance(part, Text | Media):
            out.append(part)
    return out


def _block(block: dict[str, Any]) -> Part | None:
    kind = block["type"]  # requests are checked; in an answer, a wrong shape is a 502
    if kind == "text":
        return Text(str(block.get("text", "")))
    if kind in ("image", "document"):
        return _source(kind, block)
    if kind == "tool_use":
        if block.get("name") == OUTPUT_TOOL:  # the answer itself (see output.py)
            return Text(args_text(block.get("input")))
        return ToolCall(str(block.get("id", "")), str(block.get("name", "")),
                        args_text(block.get("input")))  # fmt: skip
    if kind == "tool_result":
        return ToolResult(
            str(block.get("tool_use_id", "")),
            _result_content(block.get("content")),
            bool(block.get("is_error")),
        )
    if kind in ("thinking", "redacted_thinking"):
        return Thinking(str(block.get("thinking", "")), block)
    dropped("canonical", f"content block {kind!r}")
    return None


def _content(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [Text(content)]
    return [p for b in content if (p := _block(b)) is not None] if isinstance(content, list) else []


def _system(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system] if system else []
    texts = [b.get("text", "") for b in system or [] if isinstance(b, dict)]
    return [str(t) for t in texts if t]


def _tool_choice(choice: Any) -> str | None:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "tool":
        return str(choice.get("name", ""))
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


def _tools(raw: Any) -> list[Tool]:
    tools = []
    for tool in raw or []:
        if "input_schema" not in tool:  # server tools (web_search, bash_2025...) have none
            dropped("canonical", f"server tool {tool.get('name')!r}")
            continue
        tools.append(
            Tool(str(tool.get("name", "")), str(tool.get("description") or ""),
                 tool.get("input_schema") or {})
        )  # fmt: skip
    return tools


def request_from(body: dict[str, Any]) -> Request:
    """Parse an Anthropic Messages request (``role: system`` entries in messages too)."""
    messages = [
        Message(m["role"] if m.get("role") in ("assistant", "system") else "user",
                _content(m.get("content")))
        for m in body.get("messages") or []
    ]  # fmt: skip
    for name in body.keys() - _KNOWN:
        dropped("canonical", name)
    config = body.get("output_config")
    if isinstance(config, dict):  # its format is read; the rest (effort) has no equivalent
        for name in config.keys() - {"format"}:
            dropped("canonical", f"output_config.{name}")
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return Request(
        model=str(body.get("model", "")),
        messages=messages,
        system=_system(body.get("system")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        top_k=body.get("top_k"),
        stop=list(body.get("stop_sequences") or []),
        stream=bool(body.get("stream")),
        user=user if isinstance(user, str) else None,
        output=output_from(body),
    )


def _media_out(media: Media) -> dict[str, Any]:
    if media.url:
        source: dict[str, Any] = {"type": "url", "url": media.url}
    elif media.kind == "document" and media.media_type == "text/plain":
        source = {"type": "text", "media_type": "text/plain", "data": media.data}
    else:
        source = {"type": "base64", "media_type": media.media_type, "data": media.data}
    return {"type": media.kind, "source": source}


def _part_out(part: Part, upstream: bool = False) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Media):
        return _media_out(part)
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id or new_id("toolu_", part.name),
                "name": part.name, "input": args_object(part.arguments)}  # fmt: skip
    if isinstance(part, ToolResult):
        content = [b for p in part.content if (b := _part_out(p)) is not None]
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id,
                                 "content": content}  # fmt: skip
        if part.is_error:
            block["is_error"] = True
        return block
    return _thinking_out(part, upstream)


def _thinking_out(part: Thinking, upstream: bool) -> dict[str, Any] | None:
    """A signed block is replayed as it came; reasoning from another upstream is shown to
    clients with ``UNSIGNED_THINKING`` and never sent to Anthropic, which would refuse it."""
    if part.raw is not None and not part.unsigned:
        return part.raw
    if upstream or not part.text:
        return None
    return {"type": "thinking", "thinking": part.text, "signature": UNSIGNED_THINKING}


def _messages_out(request: Request) -> tuple[list[str], list[dict[str, Any]]]:
    system = list(request.system)
    out: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":  # Anthropic has one system prompt: gather them there
            system.extend(p.text for p in message.parts if isinstance(p, Text))
            continue
        blocks = [b for p in message.parts if (b := _part_out(p, True)) is not None]
        if out and out[-1]["role"] == message.role:  # roles must alternate
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    for entry in out:
        if not entry["content"]:
            entry["content"] = [{"type": "text", "text": "(empty)"}]
    return system, out


def request_to(request: Request, default_max_tokens: int, *, tool_output: bool = False
               ) -> dict[str, Any]:
    """Render a canonical request as an Anthropic Messages body (``tool_output``: a
    structured output by the tool-forcing pattern even when it has a schema)."""
    system, messages = _messages_out(request)
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or default_max_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.tools and request.tool_choice != "none":
        body["tools"] = [
            {"name": t.name, "description": t.description,
             "input_schema": t.parameters or {"type": "object", "properties": {}}}
            for t in request.tools
        ]  # fmt: skip
        choice = request.tool_choice
        if choice == "required":
            body["tool_choice"] = {"type": "any"}
        elif choice not in (None, "auto"):
            body["tool_choice"] = {"type": "tool", "name": choice}
    optional = {"temperature": request.temperature, "top_p": request.top_p,
                "top_k": request.top_k}  # fmt: skip
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.user:
        body["metadata"] = {"user_id": request.user}
    render_output(body, request, tool_mode=tool_output)
    if request.stream:
        body["stream"] = True
    return body


def usage_from(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        cache_read_tokens=as_int(usage.get("cache_read_input_tokens")),
        cache_write_tokens=as_int(usage.get("cache_creation_input_tokens")),
    )


def usage_to(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def response_from(body: dict[str, Any]) -> Response:
    parts = _content(body.get("content"))
    finish = STOP_REASONS.get(str(body.get("stop_reason")))
    if finish == "tool_calls" and not any(isinstance(p, ToolCall) for p in parts):
        finish = "stop"  # only the output tool was called: the answer is its text
    return Response(
        str(body.get("id", "")), str(body.get("model", "")), parts, finish,
        usage_from(body.get("usage")),
    )  # fmt: skip


def stop_reason(finish: Finish | None, has_tool_use: bool) -> str | None:
    """The Anthropic stop_reason; ``tool_use`` only when a tool_use block was sent."""
    if finish is None:
        return None
    if finish in ("tool_calls", "stop"):
        return "tool_use" if has_tool_use else "end_turn"
    return {"length": "max_tokens", "stop_sequence": "stop_sequence",
            "content_filter": "refusal"}[finish]  # fmt: skip


def response_to(response: Response) -> dict[str, Any]:
    content = [b for p in response.parts if (b := _part_out(p)) is not None]
    has_tool = any(b["type"] == "tool_use" for b in content)
    if not content:
        content = [{"type": "text", "text": ""}]
    rid = response.id if response.id.startswith("msg_") else new_id("msg_", response.id)
    return {
        "id": rid,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason(response.finish or "stop", has_tool),
        "stop_sequence": None,
        "usage": usage_to(response.usage),
    }
