"""Structured output crosses dialects intact: an OpenAI ``json_schema`` reaches Gemini as
``responseJsonSchema`` and a Gemini schema reaches OpenAI as ``json_schema`` (not the
``json_object`` OpenAI refuses without the word "json" in the prompt)."""

from __future__ import annotations

from typing import Any

from providers import ProviderConfig
from providers.translate import parse_request, render_request

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False}
CONFIG = ProviderConfig(key="p", type="openai")


def _openai(fmt: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "where?"}],
            "response_format": fmt}


def test_openai_json_schema_reaches_gemini_as_its_schema() -> None:
    fmt = {"type": "json_schema",
           "json_schema": {"name": "place", "schema": SCHEMA, "strict": True}}
    body = render_request("gemini", parse_request("openai", _openai(fmt)), CONFIG)
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["generationConfig"]["responseJsonSchema"] == SCHEMA


def test_openai_json_schema_round_trips_to_openai() -> None:
    fmt = {"type": "json_schema",
           "json_schema": {"name": "place", "schema": SCHEMA, "strict": True}}
    body = render_request("openai", parse_request("openai", _openai(fmt)), CONFIG)
    assert body["response_format"] == fmt


def test_gemini_schema_reaches_openai_as_json_schema() -> None:
    gemini = {"contents": [{"role": "user", "parts": [{"text": "where?"}]}],
              "generationConfig": {"responseMimeType": "application/json",
                                   "responseJsonSchema": SCHEMA}}
    body = render_request("openai", parse_request("gemini", gemini, "m"), CONFIG)
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "response", "schema": SCHEMA}}


def test_json_mode_without_a_schema_stays_json_mode() -> None:
    body = render_request("openai", parse_request("openai", _openai({"type": "json_object"})),
                          CONFIG)
    assert body["response_format"] == {"type": "json_object"}
    gemini = render_request("gemini", parse_request("openai", _openai({"type": "json_object"})),
                            CONFIG)
    assert gemini["generationConfig"] == {"responseMimeType": "application/json"}


def test_text_format_adds_nothing() -> None:
    body = render_request("openai", parse_request("openai", _openai({"type": "text"})), CONFIG)
    assert "response_format" not in body
