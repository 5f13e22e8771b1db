"""The shape of OpenAI chat-completions and embeddings request bodies, as the codecs read them."""

from __future__ import annotations

from typing import Any, Final

from providers.dialects.check import (
    MAX_OUTPUT_TOKENS,
    Shape,
    array,
    boolean,
    integer,
    model_name,
    non_empty_string,
    nullable,
    number,
    obj,
    one_of,
    string,
    string_list,
    tagged,
    validate,
)

__all__ = ["check_embedding_request", "check_request"]

_IMAGE: Final = one_of("a string or an object", (str, string),
                       (dict, obj({"url": string, "detail": string}, required=("url",))))
_PART: Final = tagged({
    "text": obj({"text": string}, required=("text",)),
    "image_url": obj({"image_url": _IMAGE}, required=("image_url",)),
    "file": obj({"file": nullable(obj({"file_data": string, "file_id": string,
                                      "filename": string}))}),
})  # fmt: skip
_CONTENT: Final = nullable(one_of("a string or an array", (str, string), (list, array(_PART))))
_FUNCTION_CALL: Final = obj({"name": string, "arguments": nullable(string)}, required=("name",))
_TOOL_CALL: Final = obj({"id": string, "function": _FUNCTION_CALL}, required=("function",))
_MESSAGE: Final = obj({
    "role": string,
    "content": _CONTENT,
    "tool_calls": nullable(array(_TOOL_CALL)),
    "tool_call_id": string,
    "name": string,
}, required=("role",))  # fmt: skip
_FUNCTION: Final = obj({"name": string, "description": nullable(string),
                        "parameters": nullable(obj())}, required=("name",))  # fmt: skip
_TOOL_CHOICE: Final = one_of(
    "a string or an object", (str, string),
    (dict, obj({"function": obj({"name": string}, required=("name",))})),
)
_OUTPUT_TOKENS: Final = nullable(integer(1, MAX_OUTPUT_TOKENS))
_REQUEST: Final[Shape] = obj({
    "model": model_name,
    "messages": array(_MESSAGE, non_empty=True),
    "stream": nullable(boolean),
    "max_tokens": _OUTPUT_TOKENS,
    "max_completion_tokens": _OUTPUT_TOKENS,
    "n": nullable(integer(1, 128)),
    "temperature": nullable(number(0, 2)),
    "top_p": nullable(number(0, 1)),
    "presence_penalty": nullable(number()),
    "frequency_penalty": nullable(number()),
    "stream_options": nullable(obj({"include_usage": nullable(boolean)})),
    "tools": nullable(array(obj({"function": _FUNCTION}))),
    "tool_choice": nullable(_TOOL_CHOICE),
    "stop": nullable(one_of("a string or an array", (str, string), (list, string_list))),
    "user": nullable(string),
    "response_format": nullable(obj({"type": string})),
}, required=("model", "messages"))  # fmt: skip


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field's path) if ``body`` is no chat request."""
    validate(_REQUEST, body)


_INPUT: Final = one_of("a string or a non-empty array", (str, string),
                       (list, array(non_empty=True)))
_EMBEDDING: Final[Shape] = obj({"model": non_empty_string, "input": _INPUT,
                                "dimensions": nullable(integer(1))},
                               required=("model", "input"))


def check_embedding_request(body: Any) -> None:
    """Raise ``InvalidRequest`` unless ``body`` is an OpenAI embeddings request."""
    validate(_EMBEDDING, body)
