"""OpenAI-compatible streams: usage, re-framing, mid-stream failures, aborts."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest

from providers import (
    ClientPool,
    ProviderConfig,
    UpstreamClientError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
    Usage,
    build_provider,
)
from tests.fakes.frames import collect_events
from tests.fakes.openai_upstream import (
    Drop,
    FakeUpstream,
    Hang,
    Json,
    Raw,
    Sse,
    chat_chunks,
)
from tests.providers.openai_cases import BODY, ConfigFor

# --- streams ----------------------------------------------------------------------------


async def test_stream_asks_for_usage_and_strips_it(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    stream = await build_provider(config_for(), pool).open_stream("openai", BODY, "m")
    chunks = await collect_events(stream)
    sent = fake.requests[0].body
    assert sent == {**BODY, "model": "m", "stream": True, "stream_options": {"include_usage": True}}
    assert chunks[-1] == b"data: [DONE]\n\n"
    payloads = [orjson.loads(c[6:]) for c in chunks[:-1]]
    assert all(p["choices"] for p in payloads)  # the usage-only chunk was stripped
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in payloads) == (
        "Hello from the fake."
    )
    assert stream.usage == Usage(input_tokens=11, output_tokens=4)
    assert not stream.failed


async def test_stream_keeps_usage_chunk_the_client_asked_for(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    stream = await build_provider(config_for(), pool).open_stream("openai", body, "m")
    chunks = await collect_events(stream)
    assert fake.requests[0].body == {**body, "model": "m"}
    usage_chunk = orjson.loads(chunks[-2][6:])
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 4
    assert stream.usage.output_tokens == 4


async def test_stream_relays_frames_and_keeps_other_stream_options(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    events = chat_chunks(["a", "b"], include_usage=True)
    # One frame split across writes, CRLF line endings and a comment: all re-framed.
    fake.push(
        Sse(
            [
                b": ping\r\n\r\n",
                b"data: " + orjson.dumps(events[0])[:10],
                orjson.dumps(events[0])[10:] + b"\r\n\r\n",
                *events[1:],
            ]
        )
    )
    body = {**BODY, "stream_options": {"continuous_usage_stats": False}}
    stream = await build_provider(config_for(), pool).open_stream("openai", body, "m")
    chunks = await collect_events(stream)
    assert fake.requests[0].body["stream_options"] == {
        "continuous_usage_stats": False,
        "include_usage": True,
    }
    assert chunks[0] == b"data: " + orjson.dumps(events[0]) + b"\n\n"
    assert len(chunks) == len(events) - 1  # minus the stripped usage chunk


@pytest.mark.parametrize(
    ("action", "exc", "status"),
    [
        (
            Json({"error": {"message": "slow down"}}, 429, {"Retry-After": "3"}),
            UpstreamRateLimited,
            429,
        ),
        (
            Json({"error": {"message": "bad param", "type": "invalid_request_error"}}, 400),
            UpstreamClientError,
            400,
        ),
        (Json({"error": {"message": "bad key"}}, 401), UpstreamClientError, 401),
        (Json({"error": {"message": "no such model"}}, 404), UpstreamClientError, 404),
        (Json({"error": {"message": "too big"}}, 413), UpstreamClientError, 413),
        (Json({"error": {"message": "internal oops"}}, 500), UpstreamServerError, 502),
        (Raw(b"<html>bad gateway</html>", 503, "text/html"), UpstreamServerError, 502),
        (Drop(), UpstreamUnreachable, 502),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_upstream_failures_map_to_errors(
    pool: ClientPool,
    fake: FakeUpstream,
    config_for: ConfigFor,
    action: Any,
    exc: type[Exception],
    status: int,
    streamed: bool,
) -> None:
    fake.push(action)
    adapter = build_provider(config_for(), pool)
    with pytest.raises(exc) as caught:
        if streamed:
            await adapter.open_stream("openai", BODY, "m")
        else:
            await adapter.complete("openai", BODY, "m")
    err = caught.value
    assert err.status == status  # type: ignore[attr-defined]
    assert err.provider == "up"  # type: ignore[attr-defined]
    if isinstance(action, Json):
        assert action.body["error"]["message"] in str(err)
    if isinstance(action, Raw) and action.status == 503:
        assert "bad gateway" in str(err)
    if exc is UpstreamRateLimited:
        assert err.retry_after == "3"  # type: ignore[attr-defined]


async def test_2xx_body_that_is_not_json(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    fake.push(Raw(b"<html>login page</html>", 200, "text/html"))
    with pytest.raises(UpstreamServerError, match="not JSON"):
        await build_provider(config_for(), pool).complete("openai", BODY, "m")


async def test_hang_times_out(pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor) -> None:
    fake.push(Hang(), Hang())
    adapter = build_provider(config_for(timeout=0.3), pool)
    with pytest.raises(UpstreamTimeout, match="'up'"):
        await adapter.complete("openai", BODY, "m")
    with pytest.raises(UpstreamTimeout):
        await adapter.open_stream("openai", BODY, "m")


async def test_unreachable_names_provider_and_host(pool: ClientPool) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = ProviderConfig(key="gone", type="openai", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(UpstreamUnreachable) as caught:
        await build_provider(config, pool).complete("openai", BODY, "m")
    assert "'gone'" in caught.value.message and "127.0.0.1" in caught.value.message
    assert isinstance(caught.value, ConnectionError)


# --- mid-stream failures ----------------------------------------------------------------


def _assert_failed_with(chunks: list[bytes], stream: Any, status_type: str, text: str) -> None:
    assert stream.failed
    assert b"[DONE]" not in b"".join(chunks)
    last = orjson.loads(chunks[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == status_type
    assert text in last["error"]["message"]
    for chunk in chunks[:-1]:  # everything before the error is model output, not the error
        assert b'"error"' not in chunk


@pytest.mark.parametrize(
    ("sse", "status_type", "text"),
    [
        (Sse(chat_chunks(["a", "b", "c"]), drop_after=3), "api_error", "dropped"),
        (
            Sse([*chat_chunks(["a"], done=False)[:2], b"data: <html>oops</html>\n\n"]),
            "api_error",
            "malformed",
        ),
        (
            Sse([*chat_chunks(["a"], done=False)[:2], b'data: {"id": "x", "choices": [\n\n']),
            "api_error",
            "malformed",
        ),
        (
            Sse(
                [
                    chat_chunks(["a"])[0],
                    {"error": {"message": "model overloaded", "type": "server_error", "code": 503}},
                ]
            ),
            "api_error",
            "model overloaded",
        ),
        (
            Sse([chat_chunks(["a"])[0], {"error": {"message": "slow", "code": 429}}]),
            "rate_limit_error",
            "slow",
        ),
    ],
)
async def test_mid_stream_failure_becomes_error_event(
    pool: ClientPool,
    fake: FakeUpstream,
    config_for: ConfigFor,
    sse: Sse,
    status_type: str,
    text: str,
) -> None:
    fake.push(sse)
    stream = await build_provider(config_for(), pool).open_stream("openai", BODY, "m")
    chunks = await collect_events(stream)
    _assert_failed_with(chunks, stream, status_type, text)


async def test_silence_mid_stream_times_out(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    fake.push(Sse(chat_chunks(["a", "b"]), delay=0.5))
    stream = await build_provider(config_for(timeout=0.2), pool).open_stream("openai", BODY, "m")
    chunks = await collect_events(stream)
    _assert_failed_with(chunks, stream, "timeout", "did not answer in time")


async def test_aclose_aborts_the_upstream(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    fake.push(Sse(chat_chunks(["w"] * 50), delay=0.05))
    stream = await build_provider(config_for(), pool).open_stream("openai", BODY, "m")
    iterator = aiter(stream)
    first = await anext(iterator)
    assert b'"role":"assistant"' in first
    await stream.aclose()
    await asyncio.wait_for(fake.disconnected.wait(), 5)
    assert fake.disconnects == 1
    await stream.aclose()  # idempotent
    assert [c async for c in iterator] == []


async def test_clean_stream_returns_connection_to_pool(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    adapter = build_provider(config_for(), pool)
    for _ in range(3):
        stream = await adapter.open_stream("openai", BODY, "m")
        await collect_events(stream)
        await stream.aclose()
    await adapter.complete("openai", BODY, "m")
    assert fake.disconnects == 0
    assert len(fake.requests) == 4


async def test_json_answer_to_a_stream_request_is_an_error(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    fake.push(Json({"error": {"message": "quota gone"}}))
    with pytest.raises(UpstreamServerError, match="stream request with JSON: quota gone"):
        await build_provider(config_for(), pool).open_stream("openai", BODY, "m")


async def test_aclose_from_another_task_ends_iteration_quietly(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    fake.push(Sse(chat_chunks(["w"] * 50), delay=0.05))
    stream = await build_provider(config_for(), pool).open_stream("openai", BODY, "m")
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk)

    task = asyncio.create_task(consume())
    while not received:
        await asyncio.sleep(0.01)
    await stream.aclose()
    await asyncio.wait_for(task, 5)
    assert not stream.failed
    assert all(b'"error"' not in chunk for chunk in received)
    await asyncio.wait_for(fake.disconnected.wait(), 5)
