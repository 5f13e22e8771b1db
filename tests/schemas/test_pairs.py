"""Structured output from each inbound dialect to each upstream type, streamed and not.

Adapters are driven directly against fakes that record what they receive: the upstream
must get the schema in its own native form (OpenAI ``response_format`` json_schema,
Anthropic ``output_config.format`` with every object closed, Gemini
``responseJsonSchema``), and the client must get the JSON back as its message text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers import ClientPool, build_provider
from providers.dialects.anthropic.output import OUTPUT_TOOL
from tests.dialects.conftest import Upstream, open_upstream
from tests.dialects.readers import read_reply, read_stream
from tests.schemas.answers import answer, output_tool_answer

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "people": {"type": ["integer", "null"]},
                   "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["city", "people", "tags"],
    "additionalProperties": False,
}  # fmt: skip
# The same schema as google-genai's types.Schema sends it (OpenAPI style, mixed spellings).
OPENAPI = {
    "type": "OBJECT",
    "properties": {"city": {"type": "STRING"},
                   "people": {"type": "INTEGER", "nullable": True, "format": "int32"},
                   "tags": {"type": "ARRAY", "items": {"type": "STRING"}}},
    "required": ["city", "people", "tags"],
    "property_ordering": ["city", "people", "tags"],
}  # fmt: skip
VALUE = {"city": "Rome", "people": 3, "tags": ["old"]}
USER = [{"role": "user", "content": "Where?"}]


def _inbound(case: str) -> tuple[str, dict[str, Any]]:
    """(dialect, body) of each way a client asks for ``SCHEMA``."""
    if case == "openai":
        fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA,
                                                      "strict": True}}
        return "openai", {"model": "m", "messages": USER, "response_format": fmt}
    if case == "anthropic":
        fmt = {"type": "json_schema", "schema": SCHEMA}
        return "anthropic", {"model": "m", "max_tokens": 50, "messages": USER,
                             "output_config": {"format": fmt}}
    if case == "anthropic-beta":
        fmt = {"type": "json_schema", "schema": SCHEMA}
        return "anthropic", {"model": "m", "max_tokens": 50, "messages": USER,
                             "output_format": fmt}
    contents = [{"role": "user", "parts": [{"text": "Where?"}]}]
    if case == "gemini-openapi":
        return "gemini", {"contents": contents, "generationConfig": {
            "responseMimeType": "application/json", "responseSchema": OPENAPI}}
    return "gemini", {"contents": contents, "generation_config": {
        "response_mime_type": "application/json", "response_json_schema": SCHEMA}}


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "additionalProperties": False}


def _check_sent(wire: str, inbound: str, case: str, sent: dict[str, Any]) -> None:
    """The upstream got the schema natively (the body as it came on a same-dialect path)."""
    if wire == inbound:
        assert case != "gemini-openapi" or sent["generationConfig"]["responseSchema"] == OPENAPI
        return
    # OpenAPI has no additionalProperties: the converted schema has none either.
    want = {k: v for k, v in SCHEMA.items()
            if case != "gemini-openapi" or k != "additionalProperties"}  # fmt: skip
    if wire == "openai":
        fmt = sent["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == want
        assert fmt["json_schema"]["name"]
    elif wire == "anthropic":
        assert sent["output_config"] == {"format": {"type": "json_schema",
                                                    "schema": _closed(SCHEMA)}}
        assert "tools" not in sent and "tool_choice" not in sent
    else:
        config = sent["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"] == want


CASES = ["openai", "anthropic", "anthropic-beta", "gemini-openapi", "gemini-snake"]


async def _call(upstream: Upstream, inbound: str, body: dict[str, Any], stream: bool
                ) -> tuple[str, list[Any], str]:
    if stream and inbound != "gemini":
        body = {**body, "stream": True}
    pool = ClientPool()
    try:
        provider = build_provider(upstream.config(), pool)
        if stream:
            opened = await provider.open_stream(inbound, body, "up-model")  # type: ignore[arg-type]
            return read_stream(inbound, b"".join([chunk async for chunk in opened]))
        done = await provider.complete(inbound, body, "up-model")  # type: ignore[arg-type]
        return read_reply(inbound, done.body)
    finally:
        await pool.aclose()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("case", CASES)
async def test_schema_reaches_every_upstream_natively(case: str, stream: bool,
                                                      upstream: Upstream) -> None:
    upstream.fake.push(answer(upstream.wire, VALUE, stream=stream))
    inbound, body = _inbound(case)
    text, calls, finish = await _call(upstream, inbound, body, stream)
    assert orjson.loads(text) == VALUE and calls == []
    assert finish in ("stop", "end_turn", "STOP")
    _check_sent(upstream.wire, inbound, case, upstream.fake.requests[-1].body)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("inbound", ["openai", "gemini"])
async def test_json_without_schema_forces_a_tool_on_anthropic(
    inbound: str, stream: bool, tmp_path: Path
) -> None:
    """Anthropic has no schema-less JSON mode: one forced tool, answered back as text."""
    fake, settings = await open_upstream("anthropic", tmp_path)
    upstream = Upstream("anthropic", fake, settings)
    fake.push(output_tool_answer(VALUE, stream=stream))
    if inbound == "openai":
        body: dict[str, Any] = {"model": "m", "messages": USER,
                                "response_format": {"type": "json_object"}}
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": "Where?"}]}],
                "generationConfig": {"responseMimeType": "application/json"}}
    try:
        text, calls, finish = await _call(upstream, inbound, body, stream)
    finally:
        await fake.__aexit__(None, None, None)
    assert orjson.loads(text) == VALUE and calls == []
    assert finish in ("stop", "STOP")
    sent = fake.requests[-1].body
    assert sent["tools"] == [{"name": OUTPUT_TOOL, "description": sent["tools"][0]["description"],
                              "input_schema": {"type": "object"}}]
    assert sent["tool_choice"] == {"type": "tool", "name": OUTPUT_TOOL}
    assert "output_config" not in sent
