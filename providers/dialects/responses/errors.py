"""Responses errors: OpenAI's error body before a stream; ``response.failed`` inside one.

A failure after the stream began is one ``error`` event and one ``response.failed`` whose
``response.error.code`` is one Codex and the Agents SDK act on (``rate_limit_exceeded``,
``context_length_exceeded``, ``insufficient_quota``; ``server_error`` otherwise). This event
is made without the stream's state, so its ``sequence_number`` is 0 and its response id a
fresh one.
"""

from __future__ import annotations

from typing import Final

import orjson

from providers.dialects.openai.errors import error_body as openai_error_body
from providers.dialects.responses.wire import new_response_id

__all__ = ["error_body", "error_event", "failure_code"]

_CODES: Final[dict[int, str]] = {
    429: "rate_limit_exceeded",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    413: "context_length_exceeded",
    504: "timeout",
}


def error_body(status: int, message: str, *, kind: str | None = None,
               param: str | None = None, code: str | None = None) -> bytes:
    """OpenAI's ``{"error": {message, type, param, code}}``."""
    return openai_error_body(status, message, kind=kind, param=param, code=code)


def failure_code(status: int, code: str | None) -> str:
    """The ``response.error.code`` of a failure with HTTP ``status``."""
    if code:
        return code
    return _CODES.get(status, "invalid_request" if 400 <= status < 500 else "server_error")


def error_event(status: int, message: str, *, kind: str | None = None,
                code: str | None = None) -> bytes:
    """The ``error`` and ``response.failed`` events that end a failed stream."""
    failure = {"code": failure_code(status, code), "message": message}
    error = {"type": "error", "sequence_number": 0, "param": None, **failure}
    failed = {"type": "response.failed", "sequence_number": 0, "response": {
        "id": new_response_id(), "object": "response", "status": "failed", "error": failure,
        "output": [], "usage": None}}
    return (b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"
            b"event: response.failed\ndata: " + orjson.dumps(failed) + b"\n\n")
