"""The OpenAI Agents SDK (``openai-agents``) with its default model, the Responses API, and
a function tool, through OpenAI-compatible, Anthropic and Gemini upstreams."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

from tests.dialects.conftest import Upstream
from tests.fakes.replies import TEXT, TOOL_ARGS, TOOL_NAME, reply

pytestmark = [pytest.mark.clients, pytest.mark.timeout(60)]

set_tracing_disabled(True)  # traces would go to OpenAI's servers


@pytest.mark.parametrize("streamed", [False, True])
async def test_agent_runs_a_tool_loop(wire_upstream: Upstream, node_for: Any,
                                      streamed: bool) -> None:
    upstream = wire_upstream
    seen: list[dict[str, Any]] = []

    @function_tool(name_override=TOOL_NAME)
    def get_weather(city: str, days: int) -> str:
        """Weather for a city."""
        seen.append({"city": city, "days": days})
        return "sunny, 21C"

    upstream.fake.push(reply(upstream.wire, "tools", stream=streamed),
                       reply(upstream.wire, "text", stream=streamed))
    async with node_for(upstream) as node:
        client = openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                    max_retries=0)
        model = OpenAIResponsesModel(model="up/up-model", openai_client=client)
        agent = Agent(name="weather", instructions="Answer with the tool.", model=model,
                      tools=[get_weather])
        if streamed:
            run = Runner.run_streamed(agent, "Weather in Paris for 2 days?")
            async for _ in run.stream_events():
                pass
            final = run.final_output
        else:
            final = (await Runner.run(agent, "Weather in Paris for 2 days?")).final_output
        await client.close()
    assert seen == [TOOL_ARGS]
    assert final == TEXT
    second = orjson.dumps(upstream.fake.requests[1].body).decode()
    assert "sunny, 21C" in second and "Answer with the tool." in second
