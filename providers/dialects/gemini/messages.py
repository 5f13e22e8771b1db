"""Gemini generateContent <-> canonical form (requests and complete responses), pure.

Gemini pairs a ``functionResponse`` with its call by name (``id`` is optional), so ids
are synthesized for calls without one, and results find their call's name through the
calls seen earlier in the conversation. Tool schemas are cut to the OpenAPI subset
Gemini accepts (``$schema``, ``additionalProperties`` and friends are removed).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import orjson

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
    args_object,
    args_text,
    as_int,
    dropped,
    new_id,
    plain_text,
    signed_id,
)
from providers.dialects.gemini.schema import to_json_schema
from providers.dialects.streams import wrong_shape
from providers.errors import InvalidRequest
from providers.types import Usage

__all__ = [
    "FINISH_REASONS",
    "finish_reason",
    "request_from",
    "request_to",
    "response_from",
    "response_to",
    "usage_from",
    "usage_to",
]

UNSIGNED_CALL: Final = "skip_thought_signature_validator"
"""The ``thoughtSignature`` Gemini's docs give for calls it did not make itself."""

FINISH_REASONS: dict[str, Finish] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(
        ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"),
        "content_filter",
    ),
}
_READ: Final = frozenset(
    {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
     "tool_config", "generationConfig", "generation_config"}
)  # fmt: skip
_SCHEMA_DROP = frozenset(
    {"$schema", "additionalProperties", "$id", "$ref", "$defs", "definitions", "examples",
     "default", "const", "exclusiveMinimum", "exclusiveMaximum", "propertyNames"}
)  # fmt: skip


def _get(raw: dict[str, Any], camel: str, snake: str) -> Any:
    """A field under either spelling (camelCase first: what most clients write)."""
    value = raw.get(camel)
    return raw.get(snake) if value is None else value


def _media(data: Any, url: bool) -> Media:
    data = data if isinstance(data, dict) else {}
    mime = str(_get(data, "mimeType", "mime_type") or "")
    kind: Literal["image", "document"] = "image" if mime.startswith("image/") else "document"
    if url:
        return Media(kind, mime, url=str(_get(data, "fileUri", "file_uri") or ""))
    return Media(kind, mime, str(data.get("data", "")))


def _part(raw: dict[str, Any], calls: list[ToolCall]) -> Part | None:
    if "text" in raw:
        text = str(raw["text"])
        return Thinking(text) if raw.get("thought") else Text(text)
    if (fc := _get(raw, "functionCall", "function_call")) is not None:
        signature = str(_get(raw, "thoughtSignature", "thought_signature") or "")
        base = str(fc.get("id") or new_id("call_", f"{fc.get('name')}_{len(calls)}"))
        call = ToolCall(signed_id(base, signature), str(fc.get("name", "")),
                        args_text(fc.get("args")), signature)  # fmt: skip
        calls.append(call)
        return call
    if (fr := _get(raw, "functionResponse", "function_response")) is not None:
        return _result(fr, calls)
    if (data := _get(raw, "inlineData", "inline_data")) is not None:
        return _media(data, url=False)
    if (data := _get(raw, "fileData", "file_data")) is not None:
        return _media(data, url=True)
    dropped("canonical", f"part {next(iter(raw), '')!r}")
    return None


def _result(fr: dict[str, Any], calls: list[ToolCall]) -> ToolResult:
    name = str(fr.get("name", ""))
    call_id = fr.get("id")
    if not call_id:
        match = next((c for c in calls if c.name == name), None)
        call_id = match.id if match else new_id("call_", name)
        if match:
            calls.remove(match)
    response = fr.get("response")
    if isinstance(response, dict) and set(response) <= {"result", "output", "content"}:
        value = next(iter(response.values()), "")
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
    else:
        text = orjson.dumps(response).decode()
    is_error = False
    if isinstance(response, dict) and set(response) == {"error"}:
        is_error = True
        text = str(response["error"])
    return ToolResult(str(call_id), [Text(text)], is_error, name)


def _tool_choice(config: Any) -> str | None:
    if not isinstance(config, dict):
        return None
    fcc = _get(config, "functionCallingConfig", "function_calling_config") or {}
    mode = str(fcc.get("mode", "")).upper()
    names = _get(fcc, "allowedFunctionNames", "allowed_function_names") or []
    if mode == "ANY":
        return str(names[0]) if len(names) == 1 else "required"
    return {"AUTO": "auto", "NONE": "none"}.get(mode)


def _tools(raw: Any) -> list[Tool]:
    tools = []
    for tool in raw or []:
        for fd in _get(tool, "functionDeclarations", "function_declarations") or []:
            schema = _get(fd, "parametersJsonSchema", "parameters_json_schema")
            if schema is None:  # the OpenAPI-style ``parameters``, if any
                schema = to_json_schema(fd.get("parameters") or {})
            tools.append(Tool(str(fd.get("name", "")), str(fd.get("description") or ""),
                              schema))  # fmt: skip
    return tools


def _top_k(value: Any) -> Any:
    # google-genai sends topK as a float (3.0); other dialects take an integer.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def request_from(body: dict[str, Any], model: str = "") -> Request:
    """Parse a generateContent body (the model comes from the URL); each field is read
    under its camelCase or its snake_case name."""
    calls: list[ToolCall] = []
    messages = []
    for content in body.get("contents") or []:
        parts = [p for raw in content.get("parts") or [] if (p := _part(raw, calls)) is not None]
        messages.append(Message("assistant" if content.get("role") == "model" else "user", parts))
    system = _get(body, "systemInstruction", "system_instruction") or {}
    config = _get(body, "generationConfig", "generation_config") or {}
    for name in body.keys() - _READ:
        dropped("canonical", name)
    return Request(
        model=model,
        messages=messages,
        system=[str(p["text"]) for p in system.get("parts") or [] if "text" in p],
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(_get(body, "toolConfig", "tool_config")),
        max_tokens=_get(config, "maxOutputTokens", "max_output_tokens"),
        temperature=config.get("temperature"),
        top_p=_get(config, "topP", "top_p"),
        top_k=_top_k(_get(config, "topK", "top_k")),
        stop=list(_get(config, "stopSequences", "stop_sequences") or []),
        output=_output_format(config),
    )


def _output_format(config: dict[str, Any]) -> OutputFormat | None:
    if _get(config, "responseMimeType", "response_mime_type") != "application/json":
        return None
    schema = _get(config, "responseJsonSchema", "response_json_schema")
    if schema is None:  # the OpenAPI-style ``responseSchema``, if any
        schema = _get(config, "responseSchema", "response_schema")
        schema = to_json_schema(schema) if isinstance(schema, dict) else None
    return OutputFormat(schema=schema if isinstance(schema, dict) else None)


def _schema(schema: Any) -> Any:
    """JSON Schema cut to the OpenAPI subset ``parameters`` takes (a ``[type, "null"]``
    union is Gemini's ``nullable``)."""
    if isinstance(schema, list):
        return [_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _schema(v) for k, v in schema.items() if k not in _SCHEMA_DROP}
    kind = out.get("type")
    if isinstance(kind, list) and "null" in kind and len(kind) == 2:
        out["type"] = next(k for k in kind if k != "null")
        out["nullable"] = True
    return out


def _part_out(part: Part, names: dict[str, str], upstream: bool = False,
              ) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"text": part.text} if part.text else None
    if isinstance(part, Media):
        if part.url:
            return {"fileData": {"mimeType": part.media_type, "fileUri": part.url}}
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    if isinstance(part, ToolCall):
        names[part.id] = part.name
        out: dict[str, Any] = {"functionCall": {"name": part.name,
                                                "args": args_object(part.arguments)}}
        if part.signature:
            out["thoughtSignature"] = part.signature
        elif upstream:
            # Gemini 3 refuses a history call without its signature; one made by another
            # model never had one, and this documented value is how to say so.
            out["thoughtSignature"] = UNSIGNED_CALL
        return out
    if isinstance(part, ToolResult):
        text = plain_text(part.content)
        key = "error" if part.is_error else "result"
        return {"functionResponse": {"name": part.name or names.get(part.call_id, ""),
                                     "response": {key: text}}}  # fmt: skip
    if isinstance(part, Thinking) and part.text and not upstream:
        return {"text": part.text, "thought": True}
    # Gemini reads nothing from thought text it did not sign: never sent upstream.
    dropped("gemini", "thinking block")
    return None


def request_to(request: Request) -> dict[str, Any]:
    """Render a canonical request as a generateContent body (no model: it is in the URL)."""
    names: dict[str, str] = {}
    system = list(request.system)
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system.extend(p.text for p in message.parts if isinstance(p, Text))
            continue
        parts = [o for p in message.parts if (o := _part_out(p, names, True)) is not None]
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        elif parts:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [
            {"name": t.name, "description": t.description, "parameters": _schema(t.parameters)}
            if t.parameters.get("properties") else {"name": t.name, "description": t.description}
            for t in request.tools
        ]}]  # fmt: skip
        choice = request.tool_choice
        if choice is not None:
            mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice, "ANY")
            fcc: dict[str, Any] = {"mode": mode}
            if mode == "ANY" and choice != "required":
                fcc["allowedFunctionNames"] = [choice]
            body["toolConfig"] = {"functionCallingConfig": fcc}
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    if request.user:
        dropped("gemini", "user")
    return body


def _generation_config(request: Request) -> dict[str, Any]:
    config = {
        "maxOutputTokens": request.max_tokens,
        "temperature": request.temperature,
        "topP": request.top_p,
        "topK": request.top_k,
        "stopSequences": request.stop or None,
        "responseMimeType": "application/json" if request.output is not None else None,
        "responseJsonSchema": request.output.schema if request.output is not None else None,
    }
    return {k: v for k, v in config.items() if v is not None}


def usage_from(meta: Any) -> Usage:
    if not isinstance(meta, dict):
        return Usage()
    cached = as_int(meta.get("cachedContentTokenCount"))
    return Usage(
        input_tokens=max(as_int(meta.get("promptTokenCount")) - cached, 0),
        output_tokens=as_int(meta.get("candidatesTokenCount"))
        + as_int(meta.get("thoughtsTokenCount")),
        cache_read_tokens=cached,
    )


def usage_to(usage: Usage) -> dict[str, int]:
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    out = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": prompt + usage.output_tokens,
    }
    if usage.cache_read_tokens:
        out["cachedContentTokenCount"] = usage.cache_read_tokens
    return out


def finish_from(candidate: dict[str, Any], body: dict[str, Any], has_calls: bool) -> Finish | None:
    """The canonical finish of a candidate (a blocked prompt is a content filter)."""
    feedback = body.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        return "content_filter"
    reason = candidate.get("finishReason")
    if reason is None:
        return None
    finish = FINISH_REASONS.get(str(reason), "stop")
    return "tool_calls" if finish == "stop" and has_calls else finish


def response_from(body: dict[str, Any]) -> Response:
    candidates = body.get("candidates") or [{}]
    candidate = candidates[0] if isinstance(candidates[0], dict) else {}
    calls: list[ToolCall] = []
    raw_parts = (candidate.get("content") or {}).get("parts") or []
    parts = [p for raw in raw_parts if (p := _part(raw, calls)) is not None]
    return Response(
        str(body.get("responseId", "")), str(body.get("modelVersion", "")), parts,
        finish_from(candidate, body, bool(calls)) or "stop", usage_from(body.get("usageMetadata")),
    )  # fmt: skip


def finish_reason(finish: Finish | None) -> str:
    return {"length": "MAX_TOKENS", "content_filter": "SAFETY"}.get(finish or "stop", "STOP")


def response_to(response: Response) -> dict[str, Any]:
    names: dict[str, str] = {}
    parts = [o for p in response.parts if (o := _part_out(p, names)) is not None]
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts or [{"text": ""}]},
             "finishReason": finish_reason(response.finish), "index": 0}
        ],
        "usageMetadata": usage_to(response.usage),
        "modelVersion": response.model,
        "responseId": response.id,
    }  # fmt: skip



def embed_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI embeddings body as ``batchEmbedContents`` (one request per input string)."""
    items = body.get("input")
    texts = [items] if isinstance(items, str) else items
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("Gemini embeds text: 'input' must be a string or a list of "
                             "strings (token arrays have no Gemini equivalent)", param="input")
    name = f"models/{model.removeprefix('models/')}"
    dims = body.get("dimensions")
    requests = []
    for text in texts:
        one: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if isinstance(dims, int):
            one["outputDimensionality"] = dims
        requests.append(one)
    for key in body.keys() - {"input", "model", "dimensions", "encoding_format", "user"}:
        dropped("gemini", key)
    return {"requests": requests}


def embed_vectors(data: dict[str, Any], provider: str) -> list[list[float]]:
    """The vectors of a ``batchEmbedContents`` answer, in input order; a value that is not
    a number is the upstream's failure (502), caught here before it is packed or relayed."""
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list):
        return []
    vectors = [e.get("values") or [] for e in embeddings if isinstance(e, dict)]
    for values in vectors:
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise wrong_shape(provider)
    return vectors
