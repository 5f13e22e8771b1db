"""Gemini's OpenAPI-style schemas as JSON Schema, for every other upstream.

Gemini's ``parameters`` and ``responseSchema`` take a ``Schema`` object: an OpenAPI 3.0
subset with upper-case types (``OBJECT``, ``STRING``), ``nullable``, ``format`` for numbers
(``int32``, ``double``), ``propertyOrdering``, counts as strings (int64 in Google's JSON)
and, from google-genai and LiteLLM, snake_case spellings (``any_of``, ``min_items``,
``property_ordering``). OpenAI and Anthropic refuse all of that, so the canonical request
holds JSON Schema and this module converts once, when a Gemini request is parsed.

The conversion is idempotent: JSON Schema in (lower-case types, ``anyOf``) comes out the
same, so it is safe on schemas that were already JSON Schema.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["to_json_schema"]

_TYPES: Final = {
    "STRING": "string", "NUMBER": "number", "INTEGER": "integer", "BOOLEAN": "boolean",
    "ARRAY": "array", "OBJECT": "object", "NULL": "null",
}  # fmt: skip
# Both spellings of the keys a Schema may carry, to their JSON Schema names.
_RENAMED: Final = {
    "any_of": "anyOf", "min_items": "minItems", "max_items": "maxItems",
    "min_length": "minLength", "max_length": "maxLength",
    "min_properties": "minProperties", "max_properties": "maxProperties",
}  # fmt: skip
_COUNTS: Final = frozenset(
    {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}
)
# OpenAPI-only keys JSON Schema validators (OpenAI strict mode) refuse.
_DROPPED: Final = frozenset(
    {"nullable", "propertyOrdering", "property_ordering", "example"}
)
# The string formats JSON Schema defines that OpenAI and Anthropic accept; Gemini's
# number formats (int32, double) and its ``enum`` format have no meaning there.
_STRING_FORMATS: Final = frozenset(
    {"date-time", "date", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uuid",
     "uri"}
)  # fmt: skip


def to_json_schema(schema: Any) -> Any:
    """``schema`` (a Gemini ``Schema`` object, or JSON Schema) as JSON Schema."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        key = _RENAMED.get(key, key)
        if key == "type":
            value = _type(value)
        elif key == "properties" and isinstance(value, dict):
            value = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "not", "additionalProperties"):
            value = to_json_schema(value)
        elif key in _COUNTS and isinstance(value, str) and value.isdigit():
            value = int(value)
        out[key] = value
    fmt = out.get("format")  # any JSON value a client sent: a list is not hashable
    if not isinstance(fmt, str) or fmt not in _STRING_FORMATS or out.get("type") != "string":
        out.pop("format", None)
    if schema.get("nullable") is True:
        _allow_null(out)
    return out


def _type(value: Any) -> Any:
    if isinstance(value, str):
        return _TYPES.get(value.upper(), value)
    if isinstance(value, list):
        return [_type(v) for v in value]
    return value


def _allow_null(out: dict[str, Any]) -> None:
    """OpenAPI's ``nullable: true``: the type (or the alternatives) gain ``null``."""
    kind = out.get("type")
    if isinstance(kind, str) and kind != "null":
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    elif kind is None and isinstance(out.get("anyOf"), list):
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    enum = out.get("enum")
    if isinstance(enum, list) and None not in enum:
        out["enum"] = [*enum, None]
