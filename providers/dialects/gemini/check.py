"""The shape of Gemini generateContent request bodies, as the codecs read them."""

from __future__ import annotations

from typing import Any, Final

from providers.dialects.check import (
    MAX_OUTPUT_TOKENS,
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

__all__ = ["check_request"]

# A part is told apart by which key it has; each key present must have its shape.
_PART: Final = obj({
    "text": string,
    "thought": nullable(boolean),
    "thoughtSignature": string,
    "inlineData": obj({"mimeType": string, "data": string}),
    "fileData": obj({"mimeType": string, "fileUri": string}),
    "functionCall": obj({"name": string, "id": nullable(string), "args": nullable(obj())}),
    "functionResponse": obj({"name": string, "id": nullable(string),
                             "response": nullable(obj())}),
})  # fmt: skip
_CONTENT: Final = obj({"role": string, "parts": array(_PART)}, required=("parts",))
_DECLARATION: Final = obj({
    "name": string,
    "description": nullable(string),
    "parameters": nullable(obj()),
    "parametersJsonSchema": nullable(obj()),
})  # fmt: skip
_CALLING: Final = obj({"mode": nullable(string), "allowedFunctionNames": nullable(string_list)})
_GENERATION: Final = obj({
    "maxOutputTokens": nullable(integer(1, MAX_OUTPUT_TOKENS)),
    "temperature": nullable(number(0, 2)),
    "topP": nullable(number(0, 1)),
    "topK": nullable(number(0)),
    "stopSequences": nullable(string_list),
    "responseMimeType": nullable(string),
})  # fmt: skip
_REQUEST: Final = obj({
    "contents": array(_CONTENT, non_empty=True),
    "systemInstruction": nullable(obj({"parts": nullable(array(obj({"text": string})))})),
    "tools": nullable(array(obj({"functionDeclarations": nullable(array(_DECLARATION))}))),
    "toolConfig": nullable(obj({"functionCallingConfig": nullable(_CALLING)})),
    "generationConfig": nullable(_GENERATION),
}, required=("contents",))  # fmt: skip


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field's path) unless ``body`` is
    generateContent's."""
    validate(_REQUEST, body)
