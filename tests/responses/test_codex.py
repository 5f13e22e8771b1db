"""The real Codex CLI (``openai-codex-cli-bin``: ``codex exec``) with a custom provider in a
temporary ``CODEX_HOME``, running a shell tool loop through OpenAI-compatible, Anthropic and
Gemini upstreams: the model's first answer is a command, Codex runs it (the file appears),
sends its output back, and the second answer ends the turn."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from codex_cli_bin import bundled_codex_path

from tests.dialects.conftest import Upstream
from tests.fakes.replies import TEXT, reply
from tests.fakes.responses_replies import call_reply

pytestmark = [pytest.mark.clients, pytest.mark.timeout(120)]

CONFIG = """\
model = "up/up-model"
model_provider = "gw"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[model_providers.gw]
name = "at-gateway"
base_url = "{url}/v1"
env_key = "GW_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""


async def _codex(home: Path, work: Path, key: str, prompt: str) -> tuple[int, str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "CODEX_HOME": str(home),
           "GW_API_KEY": key, "RUST_LOG": "error"}
    proc = await asyncio.create_subprocess_exec(
        str(bundled_codex_path()), "exec", "--skip-git-repo-check", "--json", prompt,
        cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


async def test_codex_runs_a_shell_tool_loop(wire_upstream: Upstream, node_for: Any,
                                            tmp_path: Path) -> None:
    upstream = wire_upstream
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    command = {"cmd": "echo codex-was-here > marker.txt && cat marker.txt"}
    upstream.fake.push(call_reply(upstream.wire, "exec_command", command),
                       reply(upstream.wire, "text", stream=True))
    async with node_for(upstream) as node:
        (home / "config.toml").write_text(CONFIG.format(url=node.url))
        code, out, err = await _codex(home, work, node.api_key, "make the marker file")
    events = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    kinds = [e.get("type") for e in events]
    assert code == 0, (out, err[-3000:])
    assert (work / "marker.txt").read_text().strip() == "codex-was-here"
    assert "turn.completed" in kinds, kinds
    messages = [e["item"].get("text") for e in events if e.get("type") == "item.completed"
                and e["item"].get("type") == "agent_message"]
    assert messages == [TEXT]
    second = orjson.dumps(upstream.fake.requests[1].body).decode()
    assert "codex-was-here" in second  # the command's output went back to the model
