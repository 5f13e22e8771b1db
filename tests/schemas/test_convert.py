"""The schema converters: Gemini's OpenAPI-style ``Schema`` to JSON Schema, and JSON Schema
to what Anthropic's structured outputs accept."""

from __future__ import annotations

from typing import Any

from providers.dialects.anthropic.output import strict_schema
from providers.dialects.gemini.schema import to_json_schema


def test_upper_case_types_nullable_and_orderings_become_json_schema() -> None:
    openapi = {
        "type": "OBJECT",
        "propertyOrdering": ["name", "size"],
        "properties": {
            "name": {"type": "STRING", "nullable": True, "enum": ["a", "b"], "format": "enum"},
            "size": {"type": "NUMBER", "format": "double", "minimum": 0},
            "when": {"type": "STRING", "format": "date-time"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "min_items": "1",
                     "maxItems": "3"},
            "either": {"any_of": [{"type": "INTEGER"}, {"type": "BOOLEAN"}], "nullable": True},
        },
        "required": ["name"],
        "example": {"name": "a"},
    }  # fmt: skip
    assert to_json_schema(openapi) == {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "enum": ["a", "b", None]},
            "size": {"type": "number", "minimum": 0},
            "when": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                     "maxItems": 3},
            "either": {"anyOf": [{"type": "integer"}, {"type": "boolean"}, {"type": "null"}]},
        },
        "required": ["name"],
    }  # fmt: skip


def test_json_schema_passes_unchanged() -> None:
    schema: dict[str, Any] = {
        "type": "object", "title": "City", "additionalProperties": False,
        "properties": {"pop": {"anyOf": [{"type": "integer"}, {"type": "null"}],
                               "default": None},
                       "kind": {"type": "string", "enum": ["x"]}},
        "required": ["pop"], "$defs": {"X": {"type": "string"}},
    }  # fmt: skip
    assert to_json_schema(schema) == schema
    assert to_json_schema(to_json_schema({"type": "STRING", "nullable": True})) == {
        "type": ["string", "null"]}


def test_property_names_are_data_not_keywords() -> None:
    # A property called "type", "nullable" or "min_items" is the client's name: kept.
    schema = {"type": "OBJECT", "properties": {"type": {"type": "STRING"},
                                               "nullable": {"type": "BOOLEAN"},
                                               "min_items": {"type": "INTEGER"}}}
    assert to_json_schema(schema)["properties"] == {
        "type": {"type": "string"}, "nullable": {"type": "boolean"},
        "min_items": {"type": "integer"}}


def test_anthropic_schema_closes_objects_and_describes_constraints() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2, "description": "who"},
            "items": {"type": "array", "minItems": 1, "maxItems": 4,
                      "items": {"type": "object", "properties": {"n": {"type": "integer",
                                                                         "minimum": 0}}}},
            "ref": {"$ref": "#/$defs/Thing"},
        },
        "$defs": {"Thing": {"type": "object", "properties": {"x": {"type": "string"}}}},
    }  # fmt: skip
    assert strict_schema(schema) == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "who (minLength: 2)"},
            "items": {"type": "array", "minItems": 1, "description": "(maxItems: 4)",
                      "items": {"type": "object", "additionalProperties": False,
                                "properties": {"n": {"type": "integer",
                                                     "description": "(minimum: 0)"}}}},
            "ref": {"$ref": "#/$defs/Thing"},
        },
        "$defs": {"Thing": {"type": "object", "properties": {"x": {"type": "string"}},
                            "additionalProperties": False}},
        "additionalProperties": False,
    }  # fmt: skip


def test_a_format_that_is_not_a_string_is_dropped_like_an_unknown_one() -> None:
    """A client's ``format`` may hold any JSON (a list is not hashable): dropped, as a
    format the upstreams do not know is, never a crash."""
    for value in ([], {}, ["date"], 5, None):
        schema = {"type": "OBJECT", "format": value,
                  "properties": {"a": {"type": "STRING", "format": value}}}
        assert to_json_schema(schema) == {"type": "object",
                                          "properties": {"a": {"type": "string"}}}
