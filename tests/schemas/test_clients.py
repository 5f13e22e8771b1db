"""Real clients from PyPI asking a node for structured output, with every upstream type
behind it: the ``openai`` SDK's ``parse`` (whole and streamed), google-genai with
``types.Schema`` tools and a pydantic ``response_schema``, and pydantic-ai's native
output. The parsed object must come back intact, and the upstream must have been sent the
schema in its own native form."""

from __future__ import annotations

from typing import Any

import openai
import orjson
from google import genai
from google.genai import types as gtypes
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.dialects.conftest import Upstream
from tests.schemas.answers import answer


class Place(BaseModel):
    city: str
    people: int | None
    tags: list[str]


PLACE = Place(city="Rome", people=3, tags=["old"])


def _schema_sent(upstream: Upstream) -> dict[str, Any]:
    """The response schema the upstream was sent, read from its native field."""
    body = upstream.fake.requests[-1].body
    if upstream.wire == "anthropic":
        fmt = body["output_config"]["format"]
        assert fmt["type"] == "json_schema"
        return dict(fmt["schema"])
    if upstream.wire == "gemini":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        return dict(body["generationConfig"]["responseJsonSchema"])
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"]
    return dict(fmt["json_schema"]["schema"])


def _openai(node: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key, max_retries=0)


async def test_openai_sdk_parse(upstream: Upstream, node_for: Any) -> None:
    upstream.fake.push(answer(upstream.wire, PLACE.model_dump(), stream=False))
    async with node_for(upstream) as node, _openai(node) as client:
        done = await client.chat.completions.parse(
            model="up/up-model", messages=[{"role": "user", "content": "Where?"}],
            response_format=Place)
    assert done.choices[0].message.parsed == PLACE
    schema = _schema_sent(upstream)
    assert set(schema["properties"]) == {"city", "people", "tags"}
    assert schema["additionalProperties"] is False
    if upstream.wire == "openai":
        assert upstream.fake.requests[-1].body["response_format"]["json_schema"]["strict"]


async def test_openai_sdk_parse_streamed(upstream: Upstream, node_for: Any) -> None:
    upstream.fake.push(answer(upstream.wire, PLACE.model_dump(), stream=True))
    async with node_for(upstream) as node, _openai(node) as client, \
            client.chat.completions.stream(
                model="up/up-model", messages=[{"role": "user", "content": "Where?"}],
                response_format=Place) as stream:  # fmt: skip
        final = await stream.get_final_completion()
    assert final.choices[0].message.parsed == PLACE
    assert set(_schema_sent(upstream)["required"]) == {"city", "people", "tags"}


async def test_genai_sdk_schema_tools_and_response_schema(upstream: Upstream,
                                                          node_for: Any) -> None:
    """google-genai's ``types.Schema`` (upper-case types, ``nullable``, snake_case
    ``property_ordering``) reaches every upstream as something it accepts."""
    upstream.fake.push(answer(upstream.wire, PLACE.model_dump(), stream=False))
    tool = gtypes.Tool(function_declarations=[gtypes.FunctionDeclaration(
        name="find_city", description="Look a city up",
        parameters=gtypes.Schema(type=gtypes.Type.OBJECT, required=["name"], properties={
            "name": gtypes.Schema(type=gtypes.Type.STRING),
            "country": gtypes.Schema(type=gtypes.Type.STRING, nullable=True),
            "limit": gtypes.Schema(type=gtypes.Type.INTEGER, format="int32"),
        }, property_ordering=["name", "country", "limit"]),
    )])  # fmt: skip
    config = gtypes.GenerateContentConfig(
        system_instruction="Answer in JSON.", tools=[tool],
        automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True),
        response_mime_type="application/json", response_schema=Place, max_output_tokens=64,
    )  # fmt: skip
    async with node_for(upstream) as node:
        client = genai.Client(api_key=node.api_key,
                              http_options=gtypes.HttpOptions(base_url=node.url))
        result = await client.aio.models.generate_content(
            model="up/up-model", contents="Where?", config=config)
        await client.aio.aclose()
    assert result.parsed == PLACE
    body = upstream.fake.requests[-1].body
    if upstream.wire == "gemini":  # same dialect: passed through as the SDK wrote it
        assert body["tools"][0]["functionDeclarations"][0]["parameters"]["type"] == "OBJECT"
        return
    schema = _schema_sent(upstream)
    assert schema["properties"]["people"]["type"] == ["integer", "null"]
    assert schema["properties"]["city"] == {"type": "string", "title": "City"}
    sent = orjson.dumps(body).decode()
    assert "OBJECT" not in sent and "STRING" not in sent and "nullable" not in sent
    assert "property_ordering" not in sent and "int32" not in sent
    if upstream.wire == "anthropic":
        params = body["tools"][0]["input_schema"]
        assert body["system"] == "Answer in JSON."
    else:
        params = body["tools"][0]["function"]["parameters"]
        assert body["messages"][0] == {"role": "system", "content": "Answer in JSON."}
    assert params == {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "country": {"type": ["string", "null"]},
        "limit": {"type": "integer"}}}


async def test_pydantic_ai_native_output(upstream: Upstream, node_for: Any) -> None:
    upstream.fake.push(answer(upstream.wire, PLACE.model_dump(), stream=False))
    async with node_for(upstream) as node, _openai(node) as client:
        # Its own client (closed here), not pydantic-ai's process-wide cached one.
        model = OpenAIChatModel("up/up-model", provider=OpenAIProvider(openai_client=client))
        agent = Agent(model, output_type=NativeOutput(Place))
        result = await agent.run("Where?")
    assert result.output == PLACE
    assert set(_schema_sent(upstream)["properties"]) == {"city", "people", "tags"}
