"""Model discovery through the real SDKs: the list and one model (``models.retrieve``),
each answered in the shape of the SDK that asks; unknown models are 404 in that shape."""

from __future__ import annotations

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from tests.node.harness import Node


async def test_openai_sdk_lists_and_retrieves(node: Node) -> None:
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key) as client:
        listed = [m.id async for m in client.models.list()]
        assert "demo/mock-1" in listed
        model = await client.models.retrieve("demo/mock-1")
        assert (model.id, model.owned_by, model.object) == ("demo/mock-1", "demo", "model")
        bare = await client.models.retrieve("mock-1")  # any name that resolves
        assert bare.owned_by == "demo"
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve("nope/x")
    assert caught.value.body["param"] == "model"  # type: ignore[index]


async def test_anthropic_sdk_retrieves(node: Node) -> None:
    client = anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key)
    model = await client.models.retrieve("demo/mock-1")
    assert (model.id, model.type) == ("demo/mock-1", "model")
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.models.retrieve("nope/x")
    await client.close()
    assert caught.value.body["type"] == "error"  # type: ignore[index]


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_genai_sdk_gets_a_model(node: Node, version: str) -> None:
    client = genai.Client(api_key=node.api_key, http_options=gtypes.HttpOptions(
        base_url=node.url, api_version=version, timeout=20_000))
    model = await client.aio.models.get(model="demo/mock-1")
    assert model.name == "models/demo/mock-1"
    with pytest.raises(genai_errors.ClientError) as caught:
        await client.aio.models.get(model="nope/x")
    await client.aio.aclose()
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
