"""The shape of Gemini generateContent request bodies, as the codecs read them.

Google's JSON accepts the proto's snake_case field names as well as camelCase, and real
clients mix them (google-genai sends ``parameters_json_schema`` and ``inline_data``'s
``mime_type``; LiteLLM sends ``system_instruction`` and ``function_call`` parts), so every
declared field is declared under both spellings: one dict lookup either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from providers.dialects.check import (
    MAX_OUTPUT_TOKENS,
    Shape,
    array,
    boolean,
    integer,
    nullable,
    number,
    obj,
    string,
    string_list,
    validate,
)

__all__ = ["check_request", "snake"]

_UPPER: Final = re.compile("([A-Z])")


def snake(name: str) -> str:
    """The proto (snake_case) spelling of a camelCase JSON field name."""
    return _UPPER.sub(lambda m: "_" + m.group(1).lower(), name)


def _both(fields: Mapping[str, Shape], *, required: tuple[str, ...] = ()) -> Shape:
    """``obj`` with each field under its camelCase and its snake_case name."""
    return obj({**fields, **{snake(k): v for k, v in fields.items()}}, required=required)


# A part is told apart by which key it has; each key present must have its shape.
_PART: Final = _both({
    "text": string,
    "thought": nullable(boolean),
    "thoughtSignature": string,
    "inlineData": _both({"mimeType": string, "data": string}),
    "fileData": _both({"mimeType": string, "fileUri": string}),
    "functionCall": obj({"name": string, "id": nullable(string), "args": nullable(obj())}),
    "functionResponse": obj({"name": string, "id": nullable(string),
                             "response": nullable(obj())}),
})  # fmt: skip
_CONTENT: Final = obj({"role": string, "parts": array(_PART)}, required=("parts",))
_DECLARATION: Final = _both({
    "name": string,
    "description": nullable(string),
    "parameters": nullable(obj()),
    "parametersJsonSchema": nullable(obj()),
})  # fmt: skip
_CALLING: Final = _both({"mode": nullable(string),
                         "allowedFunctionNames": nullable(string_list)})
_GENERATION: Final = _both({
    "maxOutputTokens": nullable(integer(1, MAX_OUTPUT_TOKENS)),
    "temperature": nullable(number(0, 2)),
    "topP": nullable(number(0, 1)),
    "topK": nullable(number(0)),
    "stopSequences": nullable(string_list),
    "responseMimeType": nullable(string),
    "responseSchema": nullable(obj()),
    "responseJsonSchema": nullable(obj()),
})  # fmt: skip
_REQUEST: Final = _both({
    "contents": array(_CONTENT, non_empty=True),
    "systemInstruction": nullable(_both({"parts": nullable(array(obj({"text": string})))})),
    "tools": nullable(array(_both({"functionDeclarations": nullable(array(_DECLARATION))}))),
    "toolConfig": nullable(_both({"functionCallingConfig": nullable(_CALLING)})),
    "generationConfig": nullable(_GENERATION),
}, required=("contents",))  # fmt: skip


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field's path) unless ``body`` is
    generateContent's."""
    validate(_REQUEST, body)
