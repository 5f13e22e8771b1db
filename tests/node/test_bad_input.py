"""Bad input gets a clear error in the route's dialect; nothing reaches a client as a trace."""

from __future__ import annotations

import io

import aiohttp
import pytest

from tests.node.harness import Node, running_node, settings_tree


async def _raw(node: Node, path: str, data: bytes, headers: dict[str, str] | None = None
               ) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(
        node.url + path, data=io.BytesIO(data),
        headers={**node.auth(), "Content-Type": "application/json", **(headers or {})},
    ) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"", b"[1, 2]", b'{"model": 5, "messages": []}',
     b'{"model": "demo/mock-1", "messages": "hi"}',
     b'{"model": "demo/mock-1", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
     b'{"model": "demo/mock-1", "messages": [{"content": "x"}]}'],
)
async def test_malformed_requests_are_400_openai_style(node: Node, payload: bytes) -> None:
    status, data = await _raw(node, "/v1/chat/completions", payload)
    assert status == 400
    error = data["error"]
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"
    assert error["message"]


@pytest.mark.parametrize(
    ("payload", "param"),
    [(b'{"model": "nope/x", "input": 5}', "input"),  # checked before the model is looked up
     (b'{"model": "demo/mock-1", "input": []}', "input"),
     (b'{"model": "demo/mock-1", "input": "x", "dimensions": true}', "dimensions"),
     (b'{"model": "demo/mock-1", "input": "x", "dimensions": 0}', "dimensions"),
     (b'{"input": "x"}', "model")],
)
async def test_malformed_embedding_requests_are_400(node: Node, payload: bytes,
                                                    param: str) -> None:
    status, data = await _raw(node, "/v1/embeddings", payload)
    assert status == 400, data
    assert data["error"]["param"] == param  # type: ignore[index]
    status, _ = await _raw(node, "/v1/embeddings",
                           b'{"model": "demo/mock-1", "input": "x", "dimensions": 4}')
    assert status == 200


async def test_anthropic_and_gemini_400_in_their_dialects(node: Node) -> None:
    status, data = await _raw(node, "/v1/messages", b"{oops")
    assert status == 400 and data["type"] == "error"
    status, data = await _raw(node, "/v1beta/models/demo/mock-1:generateContent", b"{oops")
    assert status == 400 and data["error"]["status"] == "INVALID_ARGUMENT"  # type: ignore[index]


async def test_body_over_limit_is_413() -> None:
    async with running_node(settings_tree(server={"max_body_bytes": 4096})) as node:
        big = b'{"model": "demo/mock-1", "messages": [{"role": "user", "content": "' + (
            b"x" * 8000) + b'"}]}'
        status, data = await _raw(node, "/v1/chat/completions", big)
        assert status == 413
        assert data["error"]["message"]  # type: ignore[index]
        status, data = await _raw(node, "/v1/messages", big)
        assert status == 413 and data["error"]["type"] == "request_too_large"  # type: ignore[index]


async def test_default_limit_is_ten_mib(node: Node) -> None:
    assert node.gateway.settings.server.max_body_bytes == 10 * 1024 * 1024
    big = b'{"model": "demo/mock-1", "messages": [{"role": "user", "content": "' + (
        b"x" * (10 * 1024 * 1024)) + b'"}]}'
    status, _ = await _raw(node, "/v1/chat/completions", big)
    assert status == 413


@pytest.mark.parametrize("model", ["nope/x", "unknown-model", "demo/"])
async def test_unknown_model_is_404(node: Node, model: str) -> None:
    body = f'{{"model": "{model}", "messages": [{{"role": "user", "content": "x"}}]}}'
    status, data = await _raw(node, "/v1/chat/completions", body.encode())
    if model == "demo/":  # provider key alone: its default model
        assert status == 200
        return
    assert status == 404
    assert data["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_unknown_route_is_404_json(node: Node) -> None:
    status, data = await _raw(node, "/v1/nothing-here", b"{}")
    assert status in (404, 405)
    assert "error" in data


@pytest.mark.parametrize("where", ["tool", "response_schema"])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_gemini_schema_format_of_the_wrong_type_is_no_500(node: Node, where: str,
                                                                   stream: bool) -> None:
    """Translated for a non-Gemini upstream, a schema whose ``format`` was a list raised
    (unhashable) and answered 500."""
    schema = {"type": "OBJECT", "format": [], "properties": {"a": {"type": "STRING",
                                                                   "format": {}}}}
    body: dict[str, object] = {"contents": [{"parts": [{"text": "hi"}]}]}
    if where == "tool":
        body["tools"] = [{"functionDeclarations": [{"name": "f", "parameters": schema}]}]
    else:
        body["generationConfig"] = {"responseMimeType": "application/json",
                                    "responseSchema": schema}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    async with aiohttp.ClientSession() as session, session.post(
            f"{node.url}/v1beta/models/demo/mock-1:{action}", json=body,
            headers=node.auth()) as resp:
        assert resp.status == 200, await resp.text()
        assert b"candidates" in await resp.read()
