"""OpenAI Chat Completions <-> canonical form (requests and complete responses), pure."""

from __future__ import annotations

import time
from typing import Any

from providers.canonical import (
    Finish,
    Media,
    Message,
    OutputFormat,
    Part,
    Request,
    Response,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
    args_text,
    as_int,
    dropped,
    media_from_url,
    media_url,
    new_id,
    plain_text,
)
from providers.types import Usage

__all__ = [
    "FINISH",
    "finish_to",
    "output_format",
    "request_from",
    "request_to",
    "response_format",
    "response_from",
    "response_to",
    "usage_from",
    "usage_to",
]

_KNOWN = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "max_tokens", "max_completion_tokens",
        "temperature", "top_p", "stop", "stream", "stream_options", "user", "response_format",
        "n", "parallel_tool_calls",
    }
)  # fmt: skip
FINISH: dict[str, Finish] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def _content_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [Text(content)] if content else []
    parts: list[Part] = []
    for item in content if isinstance(content, list) else []:
        kind = item["type"]  # requests are checked; in an answer, a wrong shape is a 502
        if kind == "text":
            parts.append(Text(str(item.get("text", ""))))
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            parts.append(media_from_url("image", url))
        elif kind == "file" and isinstance(item.get("file"), dict):
            data = str(item["file"].get("file_data", ""))
            parts.append(media_from_url("document", data))
        else:
            dropped("canonical", f"content part {kind!r}")
    return parts


def _assistant(message: dict[str, Any]) -> Message:
    parts: list[Part] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning and isinstance(reasoning, str):
        parts.append(Thinking(reasoning))
    parts += _content_parts(message.get("content"))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        arguments = fn.get("arguments")
        if not isinstance(arguments, str):
            # Some OpenAI-compatible servers answer the arguments as an object.
            arguments = "" if arguments is None else args_text(arguments)
        parts.append(ToolCall(str(call.get("id", "")), str(fn.get("name", "")), arguments))
    return Message("assistant", parts)


def _tool_result(message: dict[str, Any]) -> ToolResult:
    content = [p for p in _content_parts(message.get("content")) if isinstance(p, Text | Media)]
    return ToolResult(str(message.get("tool_call_id", "")), content, name=message.get("name", ""))


def _messages(raw: list[dict[str, Any]]) -> list[Message]:
    out: list[Message] = []
    for message in raw:
        role = message.get("role")
        if role in ("system", "developer"):
            out.append(Message("system", _content_parts(message.get("content"))))
        elif role == "assistant":
            out.append(_assistant(message))
        elif role == "tool":
            result = _tool_result(message)
            last = out[-1] if out else None
            if last is not None and last.role == "user" and last.parts and all(
                isinstance(p, ToolResult) for p in last.parts
            ):
                last.parts.append(result)
            else:
                out.append(Message("user", [result]))
        else:
            out.append(Message("user", _content_parts(message.get("content"))))
    return out


def _tool_choice(choice: Any) -> str | None:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict):
        fn = choice.get("function")
        return str(fn.get("name")) if isinstance(fn, dict) else None
    return None


def request_from(body: dict[str, Any]) -> Request:
    """Parse an OpenAI chat request into the canonical form."""
    tools = [
        Tool(str(fn.get("name", "")), str(fn.get("description") or ""), fn.get("parameters") or {})
        for tool in body.get("tools") or []
        if isinstance(fn := tool.get("function"), dict)
    ]
    stop = body.get("stop")
    fmt = body.get("response_format")
    for name in body.keys() - _KNOWN:
        dropped("canonical", name)
    return Request(
        model=str(body.get("model", "")),
        messages=_messages(body.get("messages") or []),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        stream=bool(body.get("stream")),
        user=body.get("user"),
        output=output_format(fmt),
    )


def output_format(fmt: Any) -> OutputFormat | None:
    """``response_format`` (``json_object``, or ``json_schema`` with its name, schema and
    strictness) in the canonical form; None for text."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return OutputFormat()
    if fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    spec = spec if isinstance(spec, dict) else {}
    schema = spec.get("schema")
    name = spec.get("name")
    return OutputFormat(schema=schema if isinstance(schema, dict) else None,
                        name=name if isinstance(name, str) and name else "response",
                        strict=spec.get("strict") is True)


def response_format(output: OutputFormat) -> dict[str, Any]:
    """The canonical output format as OpenAI's ``response_format``."""
    if output.schema is None:
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": output.name, "schema": output.schema}
    if output.strict:
        spec["strict"] = True
    return {"type": "json_schema", "json_schema": spec}


def _part_out(part: Text | Media) -> dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if part.kind == "image":
        return {"type": "image_url", "image_url": {"url": media_url(part)}}
    return {"type": "file", "file": {"file_data": media_url(part)}}


def _content_out(parts: list[Text | Media]) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], Text):
        return parts[0].text
    if not parts:
        return ""
    return [_part_out(p) for p in parts]


def _tool_calls_out(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments or "{}"}} for c in calls]


def _message_out(message: Message, out: list[dict[str, Any]]) -> None:
    plain = [p for p in message.parts if isinstance(p, Text | Media)]
    if message.role == "assistant":
        calls = [p for p in message.parts if isinstance(p, ToolCall)]
        entry: dict[str, Any] = {"role": "assistant", "content": plain_text(plain) or None}
        if calls:
            entry["tool_calls"] = _tool_calls_out(calls)
        reasoning = "".join(
            p.text for p in message.parts if isinstance(p, Thinking) and p.unsigned)
        if reasoning:
            # Reasoning models that think across tool calls (DeepSeek, Kimi) want their own
            # reasoning back; a block Claude signed is Claude's and stays out.
            entry["reasoning_content"] = reasoning
        out.append(entry)
        return
    for result in (p for p in message.parts if isinstance(p, ToolResult)):
        text = plain_text(result.content)
        out.append({"role": "tool", "tool_call_id": result.call_id, "content": text})
    if plain or not any(isinstance(p, ToolResult) for p in message.parts):
        out.append({"role": message.role, "content": _content_out(plain)})


def request_to(request: Request) -> dict[str, Any]:
    """Render a canonical request as an OpenAI chat request body."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": "\n\n".join(request.system)})
    for message in request.messages:
        _message_out(message, messages)
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.tools:
        body["tools"] = [
            {"type": "function",
             "function": {"name": t.name, "description": t.description,
                          "parameters": t.parameters or {"type": "object", "properties": {}}}}
            for t in request.tools
        ]  # fmt: skip
    choice = request.tool_choice
    if choice is not None and request.tools:
        body["tool_choice"] = (
            choice if choice in ("auto", "none", "required")
            else {"type": "function", "function": {"name": choice}}
        )  # fmt: skip
    optional = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.top_k is not None:
        dropped("openai", "top_k")
    if request.stop:
        body["stop"] = request.stop
    if request.output is not None:
        body["response_format"] = response_format(request.output)
    if request.stream:
        body["stream"] = True
    return body


def usage_from(usage: Any) -> Usage:
    """OpenAI usage in the canonical meaning (cached prompt tokens split out)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(
        input_tokens=max(as_int(usage.get("prompt_tokens")) - cached, 0),
        output_tokens=as_int(usage.get("completion_tokens")),
        cache_read_tokens=cached,
    )


def usage_to(usage: Usage) -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }


def response_from(body: dict[str, Any]) -> Response:
    """Parse a complete chat.completion body."""
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    parts = _assistant(message).parts
    for i, part in enumerate(parts):
        if isinstance(part, ToolCall) and not part.id:
            part.id = new_id("call_", i)
    finish = FINISH.get(str(choice.get("finish_reason")))
    return Response(
        str(body.get("id", "")), str(body.get("model", "")), parts, finish,
        usage_from(body.get("usage")),
    )  # fmt: skip


def response_to(response: Response) -> dict[str, Any]:
    """Render a canonical response as a chat.completion body."""
    text = "".join(p.text for p in response.parts if isinstance(p, Text))
    calls = [p for p in response.parts if isinstance(p, ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    reasoning = "".join(p.text for p in response.parts if isinstance(p, Thinking))
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = _tool_calls_out(calls)
    finish = response.finish or "stop"
    return {
        "id": _chat_id(response.id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_to(finish, bool(calls))}
        ],
        "usage": usage_to(response.usage),
    }


def finish_to(finish: Finish | None, has_calls: bool) -> str | None:
    if finish is None:
        return None
    if finish == "stop_sequence":
        return "stop"
    if finish == "stop" and has_calls:
        return "tool_calls"
    return finish


def _chat_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("chatcmpl") else f"chatcmpl-{upstream_id}"

