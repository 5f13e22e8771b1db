"""Read a reply (JSON or SSE) in any dialect back to (text, tool calls, finish), and what an
upstream was sent back to (texts, images, tool results): the matrix's common language."""

from __future__ import annotations

from typing import Any

import orjson

from providers.sse import SSEDecoder

__all__ = ["read_reply", "read_sent", "read_stream"]

Reply = tuple[str, list[tuple[str, Any]], str]


def read_reply(dialect: str, body: bytes) -> Reply:
    data = orjson.loads(body)
    if dialect == "anthropic":
        assert data["type"] == "message"
        text = "".join(b["text"] for b in data["content"] if b["type"] == "text")
        calls = [(b["name"], b["input"]) for b in data["content"] if b["type"] == "tool_use"]
        return text, calls, data["stop_reason"]
    if dialect == "gemini":
        candidate = data["candidates"][0]
        parts = candidate["content"]["parts"]
        text = "".join(p.get("text", "") for p in parts)
        calls = [(p["functionCall"]["name"], p["functionCall"]["args"]) for p in parts
                 if "functionCall" in p]  # fmt: skip
        return text, calls, candidate["finishReason"]
    message = data["choices"][0]["message"]
    calls = [(c["function"]["name"], orjson.loads(c["function"]["arguments"]))
             for c in message.get("tool_calls") or []]  # fmt: skip
    return message.get("content") or "", calls, data["choices"][0]["finish_reason"]


def read_stream(dialect: str, raw: bytes) -> Reply:
    events = SSEDecoder().feed(raw)
    if dialect == "anthropic":
        return _anthropic(events)
    text, calls, finish = "", [], ""
    if dialect == "gemini":
        for event in events:
            candidate = orjson.loads(event.data)["candidates"][0]
            for part in candidate.get("content", {}).get("parts", []):
                text += part.get("text", "")
                if "functionCall" in part:
                    calls.append((part["functionCall"]["name"], part["functionCall"]["args"]))
            finish = candidate.get("finishReason") or finish
        return text, calls, finish
    assert events[-1].data == b"[DONE]"
    args: dict[int, list[Any]] = {}
    for event in events[:-1]:
        for choice in orjson.loads(event.data)["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                entry = args.setdefault(call["index"], [call["function"].get("name"), ""])
                entry[1] += call["function"].get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    calls = [(name, orjson.loads(a)) for name, a in args.values()]
    return text, calls, finish


def _anthropic(events: list[Any]) -> Reply:
    text, finish = "", ""
    blocks: dict[int, list[Any]] = {}
    assert events[0].event == "message_start" and events[-1].event == "message_stop"
    for event in events:
        data = orjson.loads(event.data)
        assert data["type"] == event.event  # every frame carries its event line
        if event.event == "content_block_start":
            block = data["content_block"]
            blocks[data["index"]] = [block.get("name"), ""] if block["type"] == "tool_use" else []
        elif event.event == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                text += delta["text"]
            else:
                blocks[data["index"]][1] += delta["partial_json"]
        elif event.event == "message_delta":
            finish = data["delta"]["stop_reason"]
    assert sorted(blocks) == list(range(len(blocks)))
    calls = [(b[0], orjson.loads(b[1] or "{}")) for b in blocks.values() if b]
    return text, calls, finish


def read_sent(dialect: str, body: dict[str, Any]) -> tuple[list[str], int, list[str]]:
    """(user/system texts, images, tool result texts) found in an upstream request."""
    texts: list[str] = []
    images = 0
    results: list[str] = []
    if dialect == "gemini":
        for part in [p for c in body["contents"] for p in c["parts"]]:
            texts += [part["text"]] if "text" in part else []
            images += "inlineData" in part
            if "functionResponse" in part:
                results.append(str(part["functionResponse"]["response"]))
        return texts, images, results
    for message in body["messages"]:
        content = message.get("content")
        if message["role"] == "tool":
            results.append(str(content))
            continue
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else (
                content or []):  # fmt: skip
            kind = block["type"]
            texts += [block["text"]] if kind == "text" else []
            images += kind in ("image", "image_url")
            if kind == "tool_result":
                results.append(str(block["content"]))
    return texts, images, results
