"""Upstream error answers: their status mapping and the message found in their body."""

from __future__ import annotations

import pytest

from providers import (
    UpstreamClientError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from providers.http import upstream_error


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
