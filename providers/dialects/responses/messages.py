"""OpenAI Responses requests <-> canonical form, pure (answers: ``answers``).

A Responses request is a list of input items (messages, function and custom tool calls and
their outputs, reasoning); consecutive assistant-side items become one assistant message and
consecutive outputs one user message of tool results, as every other dialect wants them.
What the canonical form cannot carry is logged as dropped (``reasoning.effort``, hosted
tools such as ``web_search``, ``truncation``, ``parallel_tool_calls``, OpenAI's own
``encrypted_content``); the request check already refused what would change the answer's
meaning (``background``, unknown item and tool types).
"""

from __future__ import annotations

from typing import Any, Final

from providers.canonical import (
    Media,
    Message,
    OutputFormat,
    Part,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
    args_text,
    dropped,
    media_from_url,
    media_url,
    plain_text,
)
from providers.dialects.responses.wire import (
    CUSTOM_INPUT,
    NAMESPACE_MARK,
    custom_parameters,
    unwrap_reasoning,
)
from providers.errors import InvalidRequest

__all__ = [
    "ASSISTANT_ITEMS",
    "HOSTED_TOOLS",
    "assistant_part",
    "content",
    "output_format",
    "request_from",
    "request_to",
]

HOSTED_TOOLS: Final = frozenset({
    "web_search", "web_search_preview", "tool_search", "file_search", "code_interpreter",
    "image_generation", "computer_use_preview", "mcp", "local_shell", "shell", "apply_patch",
})  # fmt: skip
"""Tools OpenAI runs itself: relayed to OpenAI's Responses API, dropped for any other
upstream (none of them can run them), as Codex declares ``web_search`` on every turn."""

_KNOWN: Final = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
    "reasoning", "max_output_tokens", "store", "previous_response_id", "include",
    "truncation", "metadata", "stream", "temperature", "top_p", "user", "stream_options",
    "prompt_cache_key", "client_metadata", "service_tier", "safety_identifier", "background",
})  # fmt: skip
ASSISTANT_ITEMS: Final = frozenset({"function_call", "custom_tool_call", "reasoning"})
_OUTPUT_ITEMS: Final = frozenset({"function_call_output", "custom_tool_call_output"})


# -- request: Responses -> canonical -------------------------------------------------------

def _part(part: dict[str, Any]) -> Text | Media | None:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text"):
        return Text(str(part.get("text", "")))
    if kind == "refusal":
        return Text(str(part.get("refusal", "")))
    if kind == "input_image":
        if part.get("file_id"):
            raise InvalidRequest("input_image.file_id: files uploaded to OpenAI can only be "
                                 "used with an OpenAI upstream; send image_url instead",
                                 param="input")
        return media_from_url("image", str(part.get("image_url") or ""))
    if kind == "input_file":
        if part.get("file_data"):
            data = str(part["file_data"])
            if not data.startswith("data:"):
                data = f"data:application/pdf;base64,{data}"
            return media_from_url("document", data)
        if part.get("file_url"):
            return Media("document", url=str(part["file_url"]))
        raise InvalidRequest("input_file: only file_data and file_url can go to this "
                             "upstream (file_id names a file stored at OpenAI)", param="input")
    dropped("canonical", f"content part {kind!r}")
    return None


def content(value: Any) -> list[Text | Media]:
    """A message's ``content`` (a string or parts) as canonical parts."""
    if isinstance(value, str):
        return [Text(value)] if value else []
    parts = [_part(p) for p in value if isinstance(p, dict)] if isinstance(value, list) else []
    return [p for p in parts if p is not None]


def _call_name(item: dict[str, Any]) -> str:
    name = str(item.get("name", ""))
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        return f"{namespace}{NAMESPACE_MARK}{name}"
    return name


def assistant_part(item: dict[str, Any]) -> Part | None:
    kind = item.get("type")
    if kind == "function_call":
        return ToolCall(str(item.get("call_id", "")), _call_name(item),
                        str(item.get("arguments") or ""))
    if kind == "custom_tool_call":
        return ToolCall(str(item.get("call_id", "")), _call_name(item),
                        args_text({CUSTOM_INPUT: str(item.get("input") or "")}))
    # reasoning: the summary is the text any upstream may see; a gateway-minted envelope
    # restores another upstream's signed block; OpenAI's own ciphertext cannot travel.
    summary = "".join(str(s.get("text", "")) for s in item.get("summary") or ()
                      if isinstance(s, dict))
    raw = unwrap_reasoning(item.get("encrypted_content"))
    if raw is None and item.get("encrypted_content"):
        dropped("canonical", "reasoning.encrypted_content")
    if raw is not None:
        return Thinking(str(raw.get("thinking", summary)), raw)
    return Thinking(summary) if summary else None


def _result(item: dict[str, Any]) -> ToolResult:
    output = item.get("output")
    said: list[Text | Media] = (
        content(output) if isinstance(output, list) else [Text(str(output or ""))])
    return ToolResult(str(item.get("call_id", "")), said)


def _append(out: list[Message], role: str, part: Part) -> None:
    last = out[-1] if out else None
    tools_only = last is not None and all(isinstance(p, ToolResult) for p in last.parts)
    if last is not None and last.role == role and (
            role == "assistant" or (tools_only and isinstance(part, ToolResult))):
        last.parts.append(part)
    else:
        out.append(Message("assistant" if role == "assistant" else "user", [part]))


def _messages(items: list[dict[str, Any]], system: list[str]) -> list[Message]:
    out: list[Message] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role", "user")
            parts = content(item.get("content"))
            if role in ("system", "developer"):
                if out:  # mid-conversation instructions stay where they were said
                    out.append(Message("system", list(parts)))
                else:
                    system.append(plain_text(parts))
            elif role == "assistant":
                for part in parts:
                    _append(out, "assistant", part)
            else:
                out.append(Message("user", list(parts)))
        elif kind in ASSISTANT_ITEMS:
            said = assistant_part(item)
            if said is not None:
                _append(out, "assistant", said)
        elif kind in _OUTPUT_ITEMS:
            _append(out, "user", _result(item))
    return out


def _tools(raw: Any) -> list[Tool]:
    tools: list[Tool] = []
    for tool in raw if isinstance(raw, list) else ():
        kind = tool.get("type")
        if kind == "function":
            tools.append(Tool(str(tool.get("name", "")), str(tool.get("description") or ""),
                              tool.get("parameters") or {}))
        elif kind == "custom":
            tools.append(_custom_tool(tool, str(tool.get("name", ""))))
        elif kind == "namespace":
            for inner in tool.get("tools") or ():
                name = f"{tool.get('name')}{NAMESPACE_MARK}{inner.get('name')}"
                if inner.get("type") == "custom":
                    tools.append(_custom_tool(inner, name))
                else:
                    tools.append(Tool(name, str(inner.get("description") or ""),
                                      inner.get("parameters") or {}))
        else:
            dropped("canonical", f"hosted tool {kind!r}")
    return tools


def _custom_tool(tool: dict[str, Any], name: str) -> Tool:
    description = str(tool.get("description") or "")
    fmt = tool.get("format")
    grammar = ""
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        syntax, definition = fmt.get("syntax", ""), fmt.get("definition", "")
        grammar = f"Free-form text in the {syntax} grammar:\n{definition}"
    return Tool(name, description, custom_parameters(grammar or "The raw input text"))


def _tool_choice(choice: Any) -> str | None:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict):
        if choice.get("type") in ("function", "custom") and isinstance(choice.get("name"), str):
            return str(choice["name"])
        dropped("canonical", f"tool_choice {choice.get('type')!r}")
    return None


def output_format(text: Any) -> OutputFormat | None:
    """``text.format`` (``json_schema`` with name, schema, strict; ``json_object``)."""
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return OutputFormat()
    if fmt.get("type") != "json_schema":
        return None
    schema, name = fmt.get("schema"), fmt.get("name")
    return OutputFormat(schema=schema if isinstance(schema, dict) else None,
                        name=name if isinstance(name, str) and name else "response",
                        strict=fmt.get("strict") is True)


def request_from(body: dict[str, Any]) -> Request:
    """Parse a Responses request (its ``previous_response_id`` already expanded by the
    route into ``input``) into the canonical form."""
    system: list[str] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        system.append(instructions)
    raw = body.get("input")
    items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else (
        [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else [])
    for name in body.keys() - _KNOWN:
        dropped("canonical", name)
    for name in ("reasoning", "truncation", "parallel_tool_calls", "prompt_cache_key"):
        if body.get(name) is not None:
            dropped("canonical", name)
    return Request(
        model=str(body.get("model", "")),
        messages=_messages(items, system),
        system=[s for s in system if s],
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=body.get("max_output_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        stream=bool(body.get("stream")),
        user=body.get("user") if isinstance(body.get("user"), str) else None,
        output=output_format(body.get("text")),
    )


# -- request: canonical -> Responses (for an upstream that speaks it) -----------------------

def _content_out(parts: list[Text | Media], role: str) -> list[dict[str, Any]]:
    text_kind = "output_text" if role == "assistant" else "input_text"
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            out.append({"type": text_kind, "text": part.text})
        elif part.kind == "image":
            out.append({"type": "input_image", "image_url": media_url(part)})
        else:
            out.append({"type": "input_file", "file_data": media_url(part)})
    return out


def _items_out(message: Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    plain = [p for p in message.parts if isinstance(p, Text | Media)]
    if plain:
        items.append({"type": "message", "role": message.role,
                      "content": _content_out(plain, message.role)})
    for part in message.parts:
        if isinstance(part, ToolCall):
            items.append({"type": "function_call", "call_id": part.id, "name": part.name,
                          "arguments": part.arguments or "{}"})
        elif isinstance(part, ToolResult):
            items.append({"type": "function_call_output", "call_id": part.call_id,
                          "output": plain_text(part.content)})
        elif isinstance(part, Thinking) and part.text:
            items.append({"type": "reasoning",
                          "summary": [{"type": "summary_text", "text": part.text}]})
    return items


def request_to(request: Request) -> dict[str, Any]:
    """Render a canonical request as a Responses request body."""
    body: dict[str, Any] = {"model": request.model,
                            "input": [i for m in request.messages for i in _items_out(m)]}
    if request.system:
        body["instructions"] = "\n\n".join(request.system)
    if request.tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                          "parameters": t.parameters or {"type": "object", "properties": {}}}
                         for t in request.tools]
    choice = request.tool_choice
    if choice is not None and request.tools:
        body["tool_choice"] = (choice if choice in ("auto", "none", "required")
                               else {"type": "function", "name": choice})
    optional = {"max_output_tokens": request.max_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "user": request.user}
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.top_k is not None:
        dropped("responses", "top_k")
    if request.stop:
        dropped("responses", "stop")
    if request.output is not None:
        fmt: dict[str, Any] = {"type": "json_object"}
        if request.output.schema is not None:
            fmt = {"type": "json_schema", "name": request.output.name,
                   "schema": request.output.schema, "strict": request.output.strict}
        body["text"] = {"format": fmt}
    if request.stream:
        body["stream"] = True
    return body
