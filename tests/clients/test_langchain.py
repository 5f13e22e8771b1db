"""LangChain (``langchain-openai``): the README's snippet run as written, pointed at a node
with a fake OpenAI-compatible or Anthropic upstream, on Chat Completions and on the
Responses API (``use_responses_api=True``): text, ``with_structured_output`` and a tool."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.clients.readme import adapted, gateway, snippet
from tests.clients.sent import PLACE, routes_served, schema_sent, tools_sent, user_text
from tests.dialects.conftest import Upstream
from tests.fakes.replies import TEXT, TOOL_ARGS, TOOL_NAME, reply
from tests.schemas.answers import answer

pytestmark = [pytest.mark.clients, pytest.mark.timeout(30)]

RESPONSES_API = ('api_key="at-...")', 'api_key="at-...", use_responses_api=True)')


@pytest.mark.parametrize("responses_api", [False, True])
async def test_readme_snippet(chat_upstream: Upstream, node_for: Any,
                              responses_api: bool) -> None:
    up = chat_upstream
    up.fake.push(reply(up.wire, "text", stream=False), answer(up.wire, PLACE, stream=False),
                 reply(up.wire, "tools", stream=False))
    code = snippet("LangChain", "python")
    if responses_api:
        code = adapted(code, dict([RESPONSES_API]))
    scope: dict[str, Any] = {}
    async with node_for(up) as node:
        code = adapted(code, gateway(node.url, "up/up-model", node.api_key))
        await asyncio.to_thread(exec, compile(code, "README.md", "exec"), scope)
        served = await routes_served(node)
    route = "/v1/responses" if responses_api else "/v1/chat/completions"
    assert served == {route: 3}, served
    assert scope["said"] == TEXT
    assert scope["place"].model_dump() == PLACE
    calls = scope["calls"]
    assert [(c["name"], c["args"]) for c in calls] == [(TOOL_NAME, TOOL_ARGS)]
    assert [user_text(up, n) for n in range(3)] == [
        "hello", "Where is the Colosseum?", "Weather in Paris?"]
    schema = schema_sent(up, 1)
    assert set(schema["properties"]) == {"city", "people"}
    assert schema["properties"]["people"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    params = tools_sent(up, 2)[TOOL_NAME]
    assert set(params["properties"]) == {"city", "days"}
    assert params["properties"]["days"]["type"] == "integer"
