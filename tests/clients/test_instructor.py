"""instructor, for real, in a venv of its own: every instructor release pins jiter<0.15 and
the main environment's openai needs jiter>=0.16, so the two cannot share one environment.
The venv is built once per run from ``instructor_env/requirements.txt`` (PyPI), and
``instructor_env/drive.py`` runs in it as a subprocess against a node with a fake
OpenAI-compatible or Anthropic upstream: ``from_openai`` in the TOOLS, JSON_SCHEMA and
RESPONSES_TOOLS modes and ``from_anthropic`` in ANTHROPIC_TOOLS mode. The parsed object
must come back intact and the upstream must have been sent the schema natively."""

from __future__ import annotations

import asyncio
import subprocess
import venv
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.clients.sent import PLACE, routes_served, schema_sent, tools_sent
from tests.dialects.conftest import Upstream
from tests.fakes.openai_upstream import Json, chat_completion
from tests.schemas.answers import answer

# The venv's one-time build (a session fixture, at most 4 minutes) is not counted in a test's
# 30 s.
pytestmark = [pytest.mark.clients, pytest.mark.timeout(30, func_only=True)]

HERE = Path(__file__).parent / "instructor_env"
ROUTES = {"tools": "/v1/chat/completions", "json_schema": "/v1/chat/completions",
          "responses_tools": "/v1/responses", "anthropic_tools": "/v1/messages"}


@pytest.fixture(scope="session")
def instructor_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding the pinned instructor (built once per run)."""
    home = tmp_path_factory.mktemp("instructor-venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", str(HERE / "requirements.txt")],
        capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    return python


def _tool_answer(wire: str, name: str, args: dict[str, Any]) -> Json:
    """The upstream calling tool ``name`` with ``args`` (how a forced tool answers)."""
    if wire == "anthropic":
        return Json({"id": "msg_fake", "type": "message", "role": "assistant",
                     "model": "claude-fake", "stop_sequence": None,
                     "content": [{"type": "tool_use", "id": "toolu_1", "name": name,
                                  "input": args}],
                     "stop_reason": "tool_use", "usage": {"input_tokens": 11,
                                                          "output_tokens": 5}})
    body = chat_completion("")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": name, "arguments": orjson.dumps(args).decode()}}]}
    body["choices"][0]["finish_reason"] = "tool_calls"
    return Json(body)


def _forced_tool(upstream: Upstream) -> str:
    choice = upstream.fake.requests[0].body["tool_choice"]
    if upstream.wire == "anthropic":
        assert choice["type"] in ("tool", "any"), choice
        return str(choice.get("name", "")) or next(iter(tools_sent(upstream, 0)))
    if choice == "required":
        return next(iter(tools_sent(upstream, 0)))
    assert choice["type"] == "function", choice
    return str(choice["function"]["name"])


@pytest.mark.parametrize("mode", list(ROUTES))
async def test_instructor_parses_through_the_gateway(chat_upstream: Upstream, node_for: Any,
                                                     instructor_python: Path,
                                                     mode: str) -> None:
    up = chat_upstream
    up.fake.push(answer(up.wire, PLACE, stream=False) if mode == "json_schema"
                 else _tool_answer(up.wire, "Place", PLACE))
    async with node_for(up) as node:
        proc = await asyncio.create_subprocess_exec(
            str(instructor_python), str(HERE / "drive.py"), mode, node.url, node.api_key,
            "up/up-model", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 25)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        served = await routes_served(node)
    assert proc.returncode == 0, err.decode()
    assert orjson.loads(out) == PLACE
    assert served == {ROUTES[mode]: 1}, served
    if mode == "json_schema":
        schema = schema_sent(up, 0)
    else:
        assert _forced_tool(up) == "Place"
        schema = tools_sent(up, 0)["Place"]
    assert set(schema["properties"]) == {"city", "people"}
    assert set(schema["required"]) == {"city", "people"}
