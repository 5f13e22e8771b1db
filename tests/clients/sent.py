"""What a fake upstream was sent, read from its own wire format (OpenAI Chat Completions or
Anthropic Messages): the response schema, the tools, the last user text."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.dialects.conftest import Upstream

__all__ = ["PLACE", "routes_served", "schema_sent", "tools_sent", "user_text"]

PLACE: dict[str, Any] = {"city": "Rome", "people": 3}
"""The structured answer every fake gives (the README's ``Place``)."""


def _body(upstream: Upstream, n: int) -> dict[str, Any]:
    return dict(upstream.fake.requests[n].body)


def schema_sent(upstream: Upstream, n: int) -> dict[str, Any]:
    """The response schema of request ``n``, from the upstream's native field."""
    body = _body(upstream, n)
    if upstream.wire == "anthropic":
        fmt = body["output_config"]["format"]
        assert fmt["type"] == "json_schema"
        return dict(fmt["schema"])
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"]
    return dict(fmt["json_schema"]["schema"])


def tools_sent(upstream: Upstream, n: int) -> dict[str, dict[str, Any]]:
    """Tool name -> its parameters' JSON schema, of request ``n``."""
    tools = _body(upstream, n).get("tools") or []
    if upstream.wire == "anthropic":
        return {t["name"]: t["input_schema"] for t in tools}
    return {t["function"]["name"]: t["function"]["parameters"] for t in tools}


def user_text(upstream: Upstream, n: int) -> str:
    """The text of the last user message of request ``n``."""
    last = [m for m in _body(upstream, n)["messages"] if m["role"] == "user"][-1]
    content = last["content"]
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


async def routes_served(node: Any) -> dict[str, int]:
    """Route -> requests the node answered with a 200 (from its ``/metrics``)."""
    async with aiohttp.ClientSession() as session, session.get(
            f"{node.url}/metrics", headers=node.auth()) as resp:
        text = await resp.text()
    served: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("at_http_requests_total{") and 'status="200"' in line:
            route = line.split('route="', 1)[1].split('"', 1)[0]
            served[route] = served.get(route, 0) + int(float(line.rsplit(" ", 1)[1]))
    return served
