"""Exception translation at the boundary, and upstream error messages."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from providers import (
    ProviderError,
    UpstreamClientError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from providers.http import map_client_errors, upstream_error


def _key() -> ConnectionKey:
    return ConnectionKey("api.example.com", 443, True, True, None, None, None)


@pytest.mark.parametrize(
    ("exc", "expected", "text"),
    [
        (TimeoutError(), UpstreamTimeout, "did not answer in time"),
        (aiohttp.ServerTimeoutError("read"), UpstreamTimeout, "did not answer in time"),
        (
            aiohttp.ClientConnectorError(_key(), ConnectionRefusedError(111, "Connection refused")),
            UpstreamUnreachable,
            "Connection refused",
        ),
        (aiohttp.ClientOSError(104, "reset"), UpstreamUnreachable, "cannot reach"),
        (aiohttp.ServerDisconnectedError(), UpstreamUnreachable, "closed the connection"),
        (aiohttp.ClientPayloadError("cut"), UpstreamUnreachable, "dropped the connection"),
        (ConnectionResetError(), UpstreamUnreachable, "cannot reach"),
    ],
)
def test_map_client_errors(exc: BaseException, expected: type[ProviderError], text: str) -> None:
    with pytest.raises(expected) as caught, map_client_errors("p", "api.example.com"):
        raise exc
    assert caught.value.__cause__ is exc
    assert "'p'" in caught.value.message and "api.example.com" in caught.value.message
    assert text in caught.value.message


def test_map_client_errors_passes_others() -> None:
    with pytest.raises(UpstreamRateLimited), map_client_errors("p"):
        raise UpstreamRateLimited("x")
    with pytest.raises(KeyError), map_client_errors("p"):
        raise KeyError("not ours")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "OpenAI says no", "type": "x"}}', "OpenAI says no"),
        (
            b'{"type": "error", "error": {"type": "x", "message": "Anthropic says no"}}',
            "Anthropic says no",
        ),
        (
            b'[{"error": {"code": 400, "message": "Gemini says no", "status": "X"}}]',
            "Gemini says no",
        ),
        (b'{"error": "plain string"}', "plain string"),
        (b'{"detail": "x", "message": "top level"}', "top level"),
        (b"<html>\n  Bad   Gateway\n</html>", "<html> Bad Gateway </html>"),
        (b"", "HTTP 418"),
    ],
)
def test_upstream_error_message(body: bytes, message: str) -> None:
    err = upstream_error("p", 418, body)
    assert isinstance(err, UpstreamClientError) and err.status == 418
    assert err.message == f"upstream 'p' answered 418: {message}"


def test_upstream_error_classes_and_clipping() -> None:
    limited = upstream_error("p", 429, b"", "12")
    assert isinstance(limited, UpstreamRateLimited) and limited.retry_after == "12"
    server = upstream_error("p", 503, b"x" * 5000)
    assert isinstance(server, UpstreamServerError)
    assert (server.status, server.upstream_status) == (502, 503)
    assert len(server.message) < 600 and server.message.endswith("...")
    assert isinstance(upstream_error("p", 302, b""), UpstreamServerError)
