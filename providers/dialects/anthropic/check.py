"""The shape of Anthropic Messages request bodies (and count_tokens bodies), as the codecs
read them."""

from __future__ import annotations

from typing import Any, Final

from providers.dialects.check import (
    MAX_OUTPUT_TOKENS,
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
    tagged,
    validate,
)

__all__ = ["check_request"]

_SOURCE: Final = obj({"type": string, "url": string, "data": string, "media_type": string})
_MEDIA: Final = obj({"source": nullable(_SOURCE)})


def _nested_blocks(value: Any) -> None:
    # A tool result holds blocks itself (text, images, documents).
    _CONTENT(value)


_BLOCK: Final = tagged({
    "text": obj({"text": string}, required=("text",)),
    "image": _MEDIA,
    "document": _MEDIA,
    "tool_use": obj({"id": string, "name": string, "input": nullable(obj())},
                    required=("name",)),
    "tool_result": obj({"tool_use_id": string, "content": _nested_blocks,
                        "is_error": nullable(boolean)}),
    "thinking": obj({"thinking": string, "signature": string}),
    "redacted_thinking": obj({"data": string}),
})  # fmt: skip
_CONTENT: Final[Shape] = nullable(
    one_of("a string or an array", (str, string), (list, array(_BLOCK))))
_MESSAGE: Final = obj({"role": string, "content": _CONTENT}, required=("role",))
_SYSTEM: Final = one_of("a string or an array", (str, string),
                        (list, array(obj({"type": string, "text": string}))))
_TOOL: Final = obj({"name": string, "description": nullable(string),
                    "input_schema": nullable(obj())}, required=("name",))  # fmt: skip
_FORMAT: Final = nullable(obj({"type": string, "schema": nullable(obj())}, required=("type",)))
_FIELDS: Final[dict[str, Shape]] = {
    "model": model_name,
    "messages": array(_MESSAGE, non_empty=True),
    "max_tokens": integer(1, MAX_OUTPUT_TOKENS),
    "stream": nullable(boolean),
    "system": nullable(_SYSTEM),
    "temperature": nullable(number(0, 2)),
    "top_p": nullable(number(0, 1)),
    "top_k": nullable(integer(0)),
    "tools": nullable(array(_TOOL)),
    "tool_choice": nullable(obj({"type": string, "name": string}, required=("type",))),
    "stop_sequences": nullable(string_list),
    "metadata": nullable(obj()),
    "output_config": nullable(obj({"format": _FORMAT})),
    "output_format": _FORMAT,
}
_REQUEST: Final = obj(_FIELDS, required=("model", "messages", "max_tokens"))
# count_tokens bodies are Messages bodies without the output limit.
_COUNT: Final = obj(_FIELDS, required=("model", "messages"))


def check_request(body: Any, *, count_only: bool = False) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field's path) if ``body`` is no Messages
    request (``count_only``: a count_tokens body, which has no ``max_tokens``)."""
    validate((_COUNT if count_only else _REQUEST), body)
