"""LiteLLM's SDK: the README's snippet (``litellm.completion`` with an ``openai/``-prefixed
model and ``api_base``, whole and streamed) run as written against a node with a fake
OpenAI-compatible or Anthropic upstream."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from tests.clients.readme import adapted, gateway, snippet
from tests.clients.sent import routes_served, user_text
from tests.dialects.conftest import Upstream
from tests.fakes.replies import TEXT, reply

pytestmark = [pytest.mark.clients, pytest.mark.timeout(60)]

# LiteLLM would fetch its model price list from the internet at import; the copy it ships
# is enough here (and the tests never leave the machine).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


async def test_readme_snippet(chat_upstream: Upstream, node_for: Any) -> None:
    up = chat_upstream
    up.fake.push(reply(up.wire, "text", stream=False), reply(up.wire, "text", stream=True))
    scope: dict[str, Any] = {}
    async with node_for(up) as node:
        code = adapted(snippet("LiteLLM", "python"),
                       gateway(node.url, "up/up-model", node.api_key))
        await asyncio.to_thread(exec, compile(code, "README.md", "exec"), scope)
        served = await routes_served(node)
    assert scope["said"] == TEXT and scope["streamed"] == TEXT
    assert served == {"/v1/chat/completions": 2}, served
    assert [user_text(up, n) for n in range(2)] == ["hello", "hello"]
    first, second = (up.fake.requests[n] for n in range(2))
    assert not first.body.get("stream") and second.body.get("stream") is True
    sent_model = first.body["model"]
    assert sent_model == "up-model"  # the gateway's model name, its provider prefix resolved
