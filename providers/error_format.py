"""Error bodies and SSE error events in each dialect's own shape.

* OpenAI: ``{"error": {"message", "type", "param", "code"}}``; SSE ``data: {...}``.
* Anthropic: ``{"type": "error", "error": {"type", "message"}}``; SSE ``event: error``.
* Gemini: ``{"error": {"code", "message", "status"}}`` (google.rpc.Code names); SSE ``data:``.
"""

from __future__ import annotations

from typing import Final

import orjson

from providers.types import Dialect

__all__ = ["error_body", "error_event", "error_payload"]

_OPENAI_TYPES: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout",
}
_OPENAI_CODES: Final[dict[int, str]] = {
    401: "invalid_api_key",
    429: "rate_limit_exceeded",
    504: "timeout",
}

_ANTHROPIC_TYPES: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_GEMINI_STATUSES: Final[dict[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _fallback(status: int, client: str, server: str) -> str:
    return client if 400 <= status < 500 else server


def error_payload(
    dialect: Dialect,
    status: int,
    message: str,
    *,
    kind: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, object]:
    """The error as a dict in ``dialect``'s shape; ``kind`` overrides the type/status name,
    ``code`` OpenAI's ``error.code``."""
    if dialect == "anthropic":
        etype = kind or _ANTHROPIC_TYPES.get(
            status, _fallback(status, "invalid_request_error", "api_error")
        )
        return {"type": "error", "error": {"type": etype, "message": message}}
    if dialect == "gemini":
        name = kind or _GEMINI_STATUSES.get(
            status, _fallback(status, "FAILED_PRECONDITION", "INTERNAL")
        )
        return {"error": {"code": status, "message": message, "status": name}}
    etype = kind or _OPENAI_TYPES.get(
        status, _fallback(status, "invalid_request_error", "api_error")
    )
    return {
        "error": {
            "message": message,
            "type": etype,
            "param": param,
            "code": code or _OPENAI_CODES.get(status),
        }
    }


def error_body(
    dialect: Dialect,
    status: int,
    message: str,
    *,
    kind: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> bytes:
    """The JSON error body a client of ``dialect`` expects with HTTP ``status``.

    ``kind`` replaces the error type (OpenAI/Anthropic ``type``, Gemini ``status``);
    ``param`` fills OpenAI's ``param`` (the offending field).
    """
    return orjson.dumps(error_payload(dialect, status, message, kind=kind, param=param, code=code))


def error_event(dialect: Dialect, status: int, message: str, *, kind: str | None = None,
                code: str | None = None) -> bytes:
    """One complete SSE error event in ``dialect`` (Anthropic adds ``event: error``)."""
    data = orjson.dumps(error_payload(dialect, status, message, kind=kind, code=code))
    if dialect == "anthropic":
        return b"event: error\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"
