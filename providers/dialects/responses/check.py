"""The shape of a Responses request body, as the codecs read it.

Beyond types, three refusals (400, naming the field): an input item or a tool of a type
the gateway does not know (it would otherwise vanish on the way to a translated upstream),
and features no upstream behind the gateway can honour (``background``: no polling here;
``conversation`` and ``prompt``: objects stored at OpenAI).
"""

from __future__ import annotations

from typing import Any, Final

from providers.dialects.check import (
    MAX_OUTPUT_TOKENS,
    Mismatch,
    Shape,
    array,
    boolean,
    integer,
    model_name,
    nullable,
    number,
    obj,
    one_of,
    string,
    string_list,
    validate,
)
from providers.dialects.responses.messages import HOSTED_TOOLS
from providers.errors import InvalidRequest

__all__ = ["check_request"]


def closed_tagged(variants: dict[str, Shape], what: str, default: str | None = None) -> Shape:
    """An object told apart by ``type``; an unknown (or missing) type is refused by name."""
    names = ", ".join(sorted(variants))

    def check(value: Any) -> None:
        if not isinstance(value, dict):
            raise Mismatch(f"expected an object, got {type(value).__name__}")
        kind = value.get("type", default)
        shape = variants.get(kind) if isinstance(kind, str) else None
        if shape is None:
            bad = Mismatch(f"unsupported {what} type {kind!r}; expected one of: {names}")
            bad.segments.append("type")
            raise bad
        shape(value)

    return check


_TEXT: Final = obj({"text": string}, required=("text",))
_PART: Final = closed_tagged({
    "input_text": _TEXT,
    "output_text": _TEXT,
    "text": _TEXT,
    "refusal": obj({"refusal": string}),
    "input_image": obj({"image_url": nullable(string), "file_id": nullable(string),
                        "detail": nullable(string)}),
    "input_file": obj({"file_data": nullable(string), "file_url": nullable(string),
                       "file_id": nullable(string), "filename": nullable(string)}),
}, "content part")  # fmt: skip
_CONTENT: Final = one_of("a string or an array", (str, string), (list, array(_PART)))
_OUTPUT: Final = nullable(one_of("a string or an array", (str, string), (list, array(_PART))))
_ITEM: Final = closed_tagged({
    "message": obj({"role": string, "content": _CONTENT}, required=("role", "content")),
    "function_call": obj({"call_id": string, "name": string, "arguments": nullable(string),
                          "namespace": nullable(string)}, required=("call_id", "name")),
    "function_call_output": obj({"call_id": string, "output": _OUTPUT},
                                required=("call_id",)),
    "custom_tool_call": obj({"call_id": string, "name": string, "input": nullable(string)},
                            required=("call_id", "name")),
    "custom_tool_call_output": obj({"call_id": string, "output": _OUTPUT},
                                   required=("call_id",)),
    "reasoning": obj({"summary": nullable(array(obj({"text": string}))),
                      "encrypted_content": nullable(string)}),
}, "input item", default="message")  # fmt: skip
_FUNCTION: Final = obj({"name": string, "description": nullable(string),
                        "parameters": nullable(obj()), "strict": nullable(boolean)},
                       required=("name",))
_CUSTOM: Final = obj({"name": string, "description": nullable(string),
                      "format": nullable(obj({"type": string}))}, required=("name",))
_INNER_TOOL: Final = closed_tagged({"function": _FUNCTION, "custom": _CUSTOM}, "tool")
_TOOLS: Final = {
    "function": _FUNCTION,
    "custom": _CUSTOM,
    "namespace": obj({"name": string, "tools": array(_INNER_TOOL)}, required=("name", "tools")),
    **{name: obj() for name in HOSTED_TOOLS},
}
_TOOL_CHOICE: Final = one_of("a string or an object", (str, string),
                             (dict, obj({"type": string, "name": string})))
_FORMAT: Final = obj({"type": string, "name": string, "schema": nullable(obj()),
                      "strict": nullable(boolean)}, required=("type",))


def _never(what: str) -> Shape:
    def check(value: Any) -> None:
        if value not in (None, False):
            raise Mismatch(what)

    return check


_REQUEST: Final[Shape] = obj({
    "model": model_name,
    "input": one_of("a string or an array", (str, string), (list, array(_ITEM))),
    "instructions": nullable(string),
    "tools": nullable(array(closed_tagged(_TOOLS, "tool"))),
    "tool_choice": nullable(_TOOL_CHOICE),
    "parallel_tool_calls": nullable(boolean),
    "text": nullable(obj({"format": nullable(_FORMAT), "verbosity": nullable(string)})),
    "reasoning": nullable(obj({"effort": nullable(string), "summary": nullable(string)})),
    "max_output_tokens": nullable(integer(1, MAX_OUTPUT_TOKENS)),
    "store": nullable(boolean),
    "previous_response_id": nullable(string),
    "include": nullable(string_list),
    "truncation": nullable(string),
    "metadata": nullable(obj()),
    "stream": nullable(boolean),
    "temperature": nullable(number(0, 2)),
    "top_p": nullable(number(0, 1)),
    "background": _never("background responses are not supported by this gateway: "
                         "send the request without background (stream it instead)"),
    "conversation": _never("conversations are objects stored at OpenAI; this gateway "
                           "continues a conversation with previous_response_id"),
    "prompt": _never("stored prompt templates live at OpenAI and cannot be used here"),
}, required=("model", "input"))  # fmt: skip


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field's path) unless ``body`` is a
    Responses request the gateway can serve."""
    validate(_REQUEST, body)
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(f"text.format.type: unsupported format {fmt.get('type')!r}",
                             param="text.format.type")
