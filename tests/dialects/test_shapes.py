"""check_request validates every depth the translators read: a wrong type or an absurd
number is a 400 naming the field's JSON path, and whatever passes translates."""

from __future__ import annotations

from typing import Any

import pytest

from providers import InvalidRequest, ProviderConfig, check_request
from providers.translate import parse_request, render_request
from providers.types import Dialect

OPENAI: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC: dict[str, Any] = {"model": "m", "max_tokens": 5,
                             "messages": [{"role": "user", "content": "hi"}]}
GEMINI: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
BASE: dict[Dialect, dict[str, Any]] = {"openai": OPENAI, "anthropic": ANTHROPIC,
                                       "gemini": GEMINI}
CONFIG = ProviderConfig(key="p", type="openai")


def _openai_messages(*messages: dict[str, Any]) -> dict[str, Any]:
    return {**OPENAI, "messages": [{"role": "user", "content": "hi"}, *messages]}


def _anthropic_content(*blocks: Any) -> dict[str, Any]:
    return {**ANTHROPIC, "messages": [{"role": "user", "content": list(blocks)}]}


def _gemini_parts(*parts: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": list(parts)}]}


WRONG_TYPES: list[tuple[Dialect, dict[str, Any], str]] = [
    # the crash sites of the issue
    ("openai", {**OPENAI, "tools": [1]}, "tools[0]"),
    ("openai", {**OPENAI, "tools": [{"type": "function", "function": {"name": 5}}]},
     "tools[0].function.name"),
    ("anthropic", {**ANTHROPIC, "tools": [{"name": 5, "input_schema": {}}]}, "tools[0].name"),
    ("anthropic", {**ANTHROPIC, "tools": ["x"]}, "tools[0]"),
    ("gemini", _gemini_parts(1), "contents[0].parts[0]"),
    ("gemini", {**GEMINI, "systemInstruction": {"parts": 5}}, "systemInstruction.parts"),
    ("gemini", {**GEMINI, "systemInstruction": {"parts": ["text"]}}, "systemInstruction.parts[0]"),
    ("gemini", {**GEMINI, "tools": [{"functionDeclarations": [{"name": 5}]}]},
     "tools[0].functionDeclarations[0].name"),
    # OpenAI messages, parts, tool calls and the rest
    ("openai", _openai_messages({"role": "user", "content": "x"},
                                {"role": "user", "content": [{"type": "text", "text": 5}]}),
     "messages[2].content[0].text"),
    ("openai", _openai_messages({"role": "user", "content": [{"type": "image_url",
                                                             "image_url": {"url": 3}}]}),
     "messages[1].content[0].image_url.url"),
    ("openai", _openai_messages({"role": "user", "content": [1]}), "messages[1].content[0]"),
    ("openai", _openai_messages({"role": "user", "content": 5}), "messages[1].content"),
    ("openai", _openai_messages({"role": "assistant", "tool_calls": [{"function": 3}]}),
     "messages[1].tool_calls[0].function"),
    ("openai", _openai_messages({"role": "assistant", "tool_calls": [
        {"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]}),
     "messages[1].tool_calls[0].function.arguments"),
    ("openai", _openai_messages({"role": "tool", "tool_call_id": 7, "content": "r"}),
     "messages[1].tool_call_id"),
    ("openai", {**OPENAI, "tool_choice": 3}, "tool_choice"),
    ("openai", {**OPENAI, "tool_choice": {"type": "function", "function": {"name": 1}}},
     "tool_choice.function.name"),
    ("openai", {**OPENAI, "stop": [1]}, "stop[0]"),
    ("openai", {**OPENAI, "response_format": "json"}, "response_format"),
    ("openai", {**OPENAI, "user": 5}, "user"),
    ("openai", {**OPENAI, "tools": [{"function": {"name": "f", "parameters": [1]}}]},
     "tools[0].function.parameters"),
    # Anthropic blocks, system, tools
    ("anthropic", _anthropic_content({"type": "text", "text": None}),
     "messages[0].content[0].text"),
    ("anthropic", _anthropic_content({"type": "image", "source": [1]}),
     "messages[0].content[0].source"),
    ("anthropic", _anthropic_content({"type": "tool_result", "tool_use_id": "t", "content": [1]}),
     "messages[0].content[0].content[0]"),
    ("anthropic", _anthropic_content({"type": "tool_use", "id": "t", "name": "f", "input": [1]}),
     "messages[0].content[0].input"),
    ("anthropic", _anthropic_content({"text": "no type"}), "messages[0].content[0].type"),
    ("anthropic", {**ANTHROPIC, "system": [1]}, "system[0]"),
    ("anthropic", {**ANTHROPIC, "system": [{"type": "text", "text": 1}]}, "system[0].text"),
    ("anthropic", {**ANTHROPIC, "tool_choice": "auto"}, "tool_choice"),
    ("anthropic", {**ANTHROPIC, "stop_sequences": "END"}, "stop_sequences"),
    ("anthropic", {**ANTHROPIC, "tools": [{"name": "f", "input_schema": [1]}]},
     "tools[0].input_schema"),
    # Gemini parts, tool config, generation config
    ("gemini", _gemini_parts({"inlineData": None}), "contents[0].parts[0].inlineData"),
    ("gemini", _gemini_parts({"functionCall": {"name": "f", "args": [1]}}),
     "contents[0].parts[0].functionCall.args"),
    ("gemini", _gemini_parts({"functionResponse": 3}), "contents[0].parts[0].functionResponse"),
    ("gemini", {**GEMINI, "toolConfig": {"functionCallingConfig": [1]}},
     "toolConfig.functionCallingConfig"),
    ("gemini", {**GEMINI, "generationConfig": {"stopSequences": "END"}},
     "generationConfig.stopSequences"),
    ("gemini", {**GEMINI, "tools": [{"functionDeclarations": [{"name": "f", "parameters": 1}]}]},
     "tools[0].functionDeclarations[0].parameters"),
]


@pytest.mark.parametrize(("dialect", "body", "param"), WRONG_TYPES)
def test_wrong_types_name_their_path(dialect: Dialect, body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_request(dialect, body)
    assert caught.value.param == param
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"{param}: ")


OUT_OF_RANGE: list[tuple[Dialect, str, Any, str]] = [
    ("openai", "max_tokens", 0, "max_tokens"),
    ("openai", "max_tokens", -5, "max_tokens"),
    ("openai", "max_tokens", 10_000_001, "max_tokens"),
    ("openai", "max_completion_tokens", 0, "max_completion_tokens"),
    ("openai", "temperature", -0.1, "temperature"),
    ("openai", "temperature", 2.5, "temperature"),
    ("openai", "top_p", 1.5, "top_p"),
    ("openai", "top_p", -1, "top_p"),
    ("openai", "n", 0, "n"),
    ("openai", "n", 129, "n"),
    ("anthropic", "max_tokens", 0, "max_tokens"),
    ("anthropic", "max_tokens", 2**40, "max_tokens"),
    ("anthropic", "temperature", -1, "temperature"),
    ("anthropic", "top_p", 2, "top_p"),
    ("gemini", "maxOutputTokens", 0, "generationConfig.maxOutputTokens"),
    ("gemini", "temperature", 3, "generationConfig.temperature"),
    ("gemini", "topP", -0.5, "generationConfig.topP"),
]


def _with(dialect: Dialect, name: str, value: Any) -> dict[str, Any]:
    if dialect == "gemini":
        return {**GEMINI, "generationConfig": {name: value}}
    return {**BASE[dialect], name: value}


@pytest.mark.parametrize(("dialect", "name", "value", "param"), OUT_OF_RANGE)
def test_numbers_out_of_range_are_400(dialect: Dialect, name: str, value: Any,
                                      param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_request(dialect, _with(dialect, name, value))
    assert caught.value.param == param
    assert str(value) in caught.value.message


@pytest.mark.parametrize(("dialect", "name", "value"), [
    ("openai", "max_tokens", 1), ("openai", "max_completion_tokens", 10_000_000),
    ("openai", "temperature", 0), ("openai", "temperature", 2), ("openai", "top_p", 1),
    ("openai", "n", 1), ("openai", "n", 128), ("anthropic", "max_tokens", 10_000_000),
    ("anthropic", "temperature", 0.7), ("gemini", "maxOutputTokens", 1),
    ("gemini", "temperature", 2.0), ("gemini", "topP", 0),
])  # fmt: skip
def test_numbers_at_the_edges_pass(dialect: Dialect, name: str, value: Any) -> None:
    check_request(dialect, _with(dialect, name, value))


RICH: dict[Dialect, dict[str, Any]] = {
    "openai": _openai_messages(
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png;base64,AA"},
                                     {"type": "file", "file": {"file_data": "data:a/b;base64,AA"}},
                                     {"type": "input_audio", "input_audio": {}}]},
        {"role": "assistant", "content": None, "reasoning_content": "hm",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok", "name": "f"},
    ) | {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}},
                   {"type": "web_search"}],
         "tool_choice": {"type": "function", "function": {"name": "f"}}, "stop": "END",
         "response_format": {"type": "json_object"}, "unknown_field": [1, {"x": None}]},
    "anthropic": _anthropic_content(
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
        {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "r"}]},
        {"type": "server_tool_use", "anything": [1]},
    ) | {"system": [{"type": "text", "text": "s"}], "top_k": 5, "metadata": {"user_id": "u"},
         "tools": [{"name": "f", "input_schema": {"type": "object"}},
                   {"type": "web_search_20250305", "name": "web_search"}],
         "tool_choice": {"type": "tool", "name": "f"}, "thinking": {"type": "enabled"}},
    "gemini": _gemini_parts(
        {"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "s"},
        {"functionResponse": {"name": "f", "response": {"result": 1}}},
    ) | {"systemInstruction": {"parts": [{"text": "s"}]},
         "tools": [{"functionDeclarations": [{"name": "f"}]}, {"googleSearch": {}}],
         "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
         "generationConfig": {"topK": 40.0, "candidateCount": 1, "thinkingConfig": {}}},
}


@pytest.mark.parametrize("inbound", ["openai", "anthropic", "gemini"])
def test_rich_valid_bodies_pass_and_translate(inbound: Dialect) -> None:
    body = RICH[inbound]
    check_request(inbound, body)
    request = parse_request(inbound, body, "m")
    for upstream in ("openai", "anthropic", "gemini"):
        assert render_request(upstream, request, CONFIG)


def test_count_tokens_bodies_need_no_output_limit() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    check_request("anthropic", body, count_only=True)
    with pytest.raises(InvalidRequest) as caught:
        check_request("anthropic", body)
    assert caught.value.param == "max_tokens"
    with pytest.raises(InvalidRequest) as caught:
        check_request("anthropic", {**body, "messages": "x"}, count_only=True)
    assert caught.value.param == "messages"
