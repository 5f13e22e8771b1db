"""The real Claude Code CLI (bundled in the pinned ``claude-agent-sdk`` wheel) runs a
non-interactive tool loop through ``/v1/messages``: once with an Anthropic upstream, once
with an OpenAI-compatible one. The fakes ask for a Bash tool call, then answer with text
once the tool result comes back; the test checks the command's output reached upstream.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import claude_agent_sdk
import orjson
import pytest

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.openai_upstream import FakeUpstream, Json, Sse, chat_chunks, chat_completion
from tests.fakes.replies import anthropic_message, anthropic_sse
from tests.node.harness import running_node, settings_tree

pytestmark = pytest.mark.agent

COMMAND = "echo hello-from-tool"
MARKER = "hello-from-tool"
FINAL = "The command printed hello-from-tool."


def _cli() -> Path:
    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    assert path.exists(), f"claude-agent-sdk ships no CLI at {path}"
    return path


def _has_tool_result(body: dict[str, Any]) -> bool:
    return MARKER in orjson.dumps(body.get("messages", [])).decode().replace(COMMAND, "")


def _wants_bash(body: dict[str, Any]) -> bool:
    tools = body.get("tools") or []
    names = [t.get("name") or (t.get("function") or {}).get("name") for t in tools]
    return "Bash" in names


class AgentAnthropic(AnthropicUpstream):
    def _default(self, path: str, body: Any) -> Any:
        if path != "/v1/messages" or not isinstance(body, dict):
            return super()._default(path, body)
        stream = bool(body.get("stream"))
        if _wants_bash(body) and not _has_tool_result(body):
            events = anthropic_sse("tools")
            message = anthropic_message("tools")
            block = {"type": "tool_use", "id": "toolu_bash1", "name": "Bash",
                     "input": {"command": COMMAND, "description": "Print a marker"}}
            message["content"] = [block]
            if not stream:
                return Json(message)
            args = orjson.dumps(block["input"]).decode()
            return Sse(_anthropic_tool_stream(events[0], block, args))
        text = {**anthropic_message("text"), "content": [{"type": "text", "text": FINAL}]}
        return Json(text) if not stream else Sse(_anthropic_text_stream(FINAL))


def _ev(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def _anthropic_tool_stream(start: bytes, block: dict[str, Any], args: str) -> list[Any]:
    return [
        start,
        _ev("content_block_start", {"index": 0, "content_block": {**block, "input": {}}}),
        _ev("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                          "partial_json": args[:10]}}),
        _ev("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                          "partial_json": args[10:]}}),
        _ev("content_block_stop", {"index": 0}),
        _ev("message_delta", {"delta": {"stop_reason": "tool_use", "stop_sequence": None},
                              "usage": {"output_tokens": 9}}),
        _ev("message_stop", {}),
    ]  # fmt: skip


def _anthropic_text_stream(text: str) -> list[Any]:
    events = anthropic_sse("text")
    start, ping, block_start = events[:3]
    delta = {"index": 0, "delta": {"type": "text_delta", "text": text}}
    return [start, ping, block_start, _ev("content_block_delta", delta), *events[-4:]]


class AgentOpenAI(FakeUpstream):
    def _default(self, path: str, body: Any) -> Any:
        if not path.endswith("/chat/completions") or not isinstance(body, dict):
            return super()._default(path, body)
        stream = bool(body.get("stream"))
        if _wants_bash(body) and not _has_tool_result(body):
            args = orjson.dumps({"command": COMMAND, "description": "Print a marker"}).decode()
            if not stream:
                done = chat_completion("")
                done["choices"][0]["message"] = {"role": "assistant", "content": None,
                    "tool_calls": [{"id": "call_bash1", "type": "function",
                                    "function": {"name": "Bash", "arguments": args}}]}
                done["choices"][0]["finish_reason"] = "tool_calls"
                return Json(done)
            return Sse(_openai_tool_stream(args))
        return Sse(chat_chunks([FINAL])) if stream else Json(chat_completion(FINAL))


def _openai_tool_stream(args: str) -> list[Any]:
    head = {"id": "chatcmpl-agent", "object": "chat.completion.chunk", "created": 1,
            "model": "m"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    first = {"index": 0, "id": "call_bash1", "type": "function",
             "function": {"name": "Bash", "arguments": ""}}
    return [
        chunk({"role": "assistant", "content": "Running it."}),
        chunk({"tool_calls": [first]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[:7]}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[7:]}}]}),
        chunk({}, "tool_calls"),
        {**head, "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 9,
                                          "total_tokens": 59}},
        "[DONE]",
    ]  # fmt: skip


async def _run_claude(url: str, key: str, tmp: Path) -> dict[str, Any]:
    home = tmp / "home"
    work = tmp / "work"
    home.mkdir()
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_MODEL": "up/up-model",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        str(_cli()), "-p", "Run the shell command `echo hello-from-tool` and report its output.",
        "--output-format", "json", "--allowedTools", "Bash",
        cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, f"claude exited {proc.returncode}: {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_claude_code_tool_loop(kind: str, tmp_path: Path) -> None:
    fake: FakeUpstream = AgentAnthropic() if kind == "anthropic" else AgentOpenAI()
    async with fake:
        provider = {"type": kind, "base_url": fake.base_url, "api_key": "sk-up",
                    "model": "up-model", "max_tokens": 4096}  # fmt: skip
        async with running_node(settings_tree(providers={"up": provider})) as node:
            result = await _run_claude(node.url, node.api_key, tmp_path)
    assert result.get("is_error") is False, result
    assert FINAL in str(result.get("result")), result
    chats = [r for r in fake.requests if r.path.endswith(("/messages", "/chat/completions"))]
    assert len(chats) >= 2
    tool_turn = next(r.body for r in chats if _has_tool_result(r.body))
    sent = orjson.dumps(tool_turn["messages"]).decode()
    if kind == "anthropic":
        assert '"tool_result"' in sent and '"toolu_bash1"' in sent
    else:
        tool_messages = [m for m in tool_turn["messages"] if m["role"] == "tool"]
        assert tool_messages and tool_messages[0]["tool_call_id"] == "call_bash1"
        assert MARKER in str(tool_messages[0]["content"])
        assert all(k not in tool_turn for k in ("thinking", "context_management"))
