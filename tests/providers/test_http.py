"""Upstream error answers: their status mapping and the message found in their body."""

from __future__ import annotations

import pytest

from providers import (
    ContextOverflow,
    UpstreamClientError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from providers.upstream_errors import upstream_error


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


OPENAI_OVERFLOW = (
    b'{"error": {"message": "This model\'s maximum context length is 128000 tokens. However, '
    b'your messages resulted in 130512 tokens. Please reduce the length of the messages.", '
    b'"type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}'
)


@pytest.mark.parametrize(
    ("status", "body", "tokens", "limit"),
    [
        (400, OPENAI_OVERFLOW, 130512, 128000),
        (400, b'{"object": "error", "message": "This model\'s maximum context length is 4096 '
              b'tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the '
              b'completion).", "code": 400}', 5000, 4096),  # vLLM
        (400, b'{"error": {"code": 400, "message": "The input token count (1200000) exceeds the '
              b'maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}',
         1200000, 1048576),  # Gemini
        (400, b'{"type": "error", "error": {"type": "invalid_request_error", "message": '
              b'"prompt is too long: 250000 tokens > 200000 maximum"}}', 250000, 200000),
    ],
)
def test_context_overflow_gets_the_wording_agents_parse(
    status: int, body: bytes, tokens: int, limit: int
) -> None:
    error = upstream_error("p", status, body)
    assert isinstance(error, ContextOverflow)
    assert error.message == f"prompt is too long: {tokens} tokens > {limit} maximum"
    assert (error.status, error.prompt_tokens, error.limit) == (400, tokens, limit)
    assert error.code == "context_length_exceeded"


def test_context_overflow_without_numbers_keeps_the_upstream_words() -> None:
    error = upstream_error("p", 400, b'{"error": {"message": "context length exceeded"}}')
    assert isinstance(error, ContextOverflow) and error.prompt_tokens is None
    assert error.message == "upstream 'p' answered 400: context length exceeded"


def test_other_client_errors_are_not_overflow() -> None:
    error = upstream_error("p", 400, b'{"error": {"message": "temperature must be <= 2"}}')
    assert type(error) is UpstreamClientError
    assert upstream_error("p", 500, OPENAI_OVERFLOW).status == 502
