"""``llm`` (the CLI): the README's ``extra-openai-models.yaml`` and commands run as written
(key, text, ``--schema``, a ``--functions`` tool loop) in a fresh configuration directory,
against a node with a fake OpenAI-compatible or Anthropic upstream."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.clients.readme import adapted, gateway, snippet
from tests.clients.sent import PLACE, routes_served, schema_sent, tools_sent, user_text
from tests.dialects.conftest import Upstream
from tests.fakes.replies import TEXT, TOOL_NAME, reply
from tests.schemas.answers import answer

pytestmark = [pytest.mark.clients, pytest.mark.timeout(60)]


async def _shell(script: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-e", "-c", script, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 45)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


async def test_readme_config_and_commands(chat_upstream: Upstream, node_for: Any,
                                          tmp_path: Path) -> None:
    up = chat_upstream
    up.fake.push(reply(up.wire, "text", stream=True), answer(up.wire, PLACE, stream=True),
                 reply(up.wire, "tools", stream=True), reply(up.wire, "text", stream=True))
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "HOME": str(tmp_path), "LLM_USER_PATH": str(tmp_path / "llm")}
    async with node_for(up) as node:
        swaps = gateway(node.url, "up/up-model")
        (tmp_path / "llm").mkdir()
        (tmp_path / "llm" / "extra-openai-models.yaml").write_text(
            adapted(snippet("`llm`", "yaml"), swaps))
        status, out, err = await _shell(snippet("`llm`", "sh"),
                                        {**env, "AT_GATEWAY_KEY": node.api_key})
        served = await routes_served(node)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == TEXT
    assert orjson.loads(lines[1]) == PLACE
    assert lines[-1] == TEXT
    assert served == {"/v1/chat/completions": 4}, served
    assert [user_text(up, n) for n in range(3)] == [
        "hello", "Where is the Colosseum?", "Weather in Paris?"]
    assert schema_sent(up, 1)["properties"]["people"]["type"] == "integer"
    assert set(tools_sent(up, 2)[TOOL_NAME]["properties"]) == {"city", "days"}
    result = orjson.dumps(up.fake.requests[3].body).decode()
    assert "sunny" in result  # the tool's output went back upstream
