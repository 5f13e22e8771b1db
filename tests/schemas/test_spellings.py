"""The Gemini dialect reads every field under both of its names, as google-genai and
LiteLLM write them (snake_case, or camelCase and snake_case mixed in one body)."""

from __future__ import annotations

from typing import Any

import pytest

from providers import ProviderConfig
from providers.dialects import DIALECTS
from providers.errors import InvalidRequest
from providers.translate import parse_request, render_request

CONFIG = ProviderConfig(key="p", type="openai")
GEMINI = DIALECTS["gemini"]
PIXEL = "iVBORw0KGgo="


def _snake_body() -> dict[str, Any]:
    """A LiteLLM-style body: snake_case everywhere, OpenAPI-style ``parameters``."""
    return {
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [
                {"text": "Weather?"},
                {"inline_data": {"mime_type": "image/png", "data": PIXEL}},
                {"file_data": {"mime_type": "application/pdf", "file_uri": "gs://b/f.pdf"}}]},
            {"role": "model", "parts": [
                {"function_call": {"name": "get_weather", "args": {"city": "Rome"}},
                 "thought_signature": "c2ln"}]},
            {"role": "user", "parts": [
                {"function_response": {"name": "get_weather",
                                       "response": {"result": "rainy"}}}]},
        ],
        "tools": [{"function_declarations": [
            {"name": "get_weather", "description": "w",
             "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                            "required": ["city"], "property_ordering": ["city"]}},
            {"name": "lookup", "parameters_json_schema": {
                "type": "object", "properties": {"q": {"type": "string"}}}}]}],
        "tool_config": {"function_calling_config": {"mode": "ANY",
                                                    "allowed_function_names": ["lookup"]}},
        "generation_config": {"max_output_tokens": 77, "temperature": 0.5, "top_p": 0.9,
                              "top_k": 3.0, "stop_sequences": ["END"]},
    }  # fmt: skip


def test_every_snake_case_field_reaches_openai() -> None:
    body = render_request("openai", parse_request("gemini", _snake_body(), "m"), CONFIG)
    messages = body["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    user = messages[1]["content"]
    assert user[1]["image_url"]["url"] == f"data:image/png;base64,{PIXEL}"
    assert "gs://b/f.pdf" in str(user[2])
    call = messages[2]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert messages[3]["role"] == "tool" and messages[3]["tool_call_id"] == call["id"]
    assert messages[3]["content"] == "rainy"
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]}
    assert tools == {
        "get_weather": {"type": "object", "properties": {"city": {"type": "string"}},
                        "required": ["city"]},
        "lookup": {"type": "object", "properties": {"q": {"type": "string"}}},
    }  # fmt: skip
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (77, 0.5, 0.9)
    assert body["stop"] == ["END"]


def test_every_snake_case_field_reaches_anthropic() -> None:
    body = render_request("anthropic", parse_request("gemini", _snake_body(), "m"),
                          ProviderConfig(key="p", type="anthropic"))
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 77 and body["top_k"] == 3 and isinstance(body["top_k"], int)
    assert body["stop_sequences"] == ["END"]
    kinds = [b["type"] for m in body["messages"] for b in m["content"]]
    assert kinds == ["text", "image", "document", "tool_use", "tool_result"]
    assert body["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert body["tool_choice"] == {"type": "tool", "name": "lookup"}


def test_the_signature_of_a_snake_case_call_survives_the_round_trip() -> None:
    request = parse_request("gemini", _snake_body(), "m")
    back = render_request("gemini", request, CONFIG)
    call = next(p for c in back["contents"] for p in c["parts"] if "functionCall" in p)
    assert call["thoughtSignature"] == "c2ln"


def test_a_wrong_type_under_a_snake_case_name_is_a_400_naming_it() -> None:
    body = _snake_body()
    body["generation_config"]["max_output_tokens"] = "many"
    with pytest.raises(InvalidRequest) as caught:
        GEMINI.check_request(body)
    assert caught.value.param == "generation_config.max_output_tokens"
    body = _snake_body()
    body["contents"][0]["parts"][1]["inline_data"]["mime_type"] = 5
    with pytest.raises(InvalidRequest) as caught:
        GEMINI.check_request(body)
    assert caught.value.param == "contents[0].parts[1].inline_data.mime_type"
    GEMINI.check_request(_snake_body())  # and the body itself is fine


def test_output_limit_is_read_and_capped_under_the_clients_spelling() -> None:
    body = _snake_body()
    assert GEMINI.output_limit(body) == 77
    capped = GEMINI.cap_output(body, 10)
    assert capped["generation_config"]["max_output_tokens"] == 10
    assert "generationConfig" not in capped
    assert "maxOutputTokens" not in capped["generation_config"]
    assert GEMINI.cap_output(body, 100) is body
    bare: dict[str, Any] = {"contents": [], "generation_config": {"temperature": 1}}
    filled = GEMINI.cap_output(bare, 5, fill=True)
    assert filled == {"contents": [], "generation_config": {"temperature": 1,
                                                            "max_output_tokens": 5}}
    camel = GEMINI.cap_output({"contents": []}, 5, fill=True)
    assert camel == {"contents": [], "generationConfig": {"maxOutputTokens": 5}}
