"""OpenAI error bodies: ``{"error": {"message", "type", "param", "code"}}``; SSE ``data: {...}``."""

from __future__ import annotations

from typing import Final

import orjson

__all__ = ["error_body", "error_event", "error_payload"]

_TYPES: Final[dict[int, str]] = {
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

_CODES: Final[dict[int, str]] = {
    401: "invalid_api_key",
    429: "rate_limit_exceeded",
    504: "timeout",
}


def error_payload(status: int, message: str, *, kind: str | None = None,
                  param: str | None = None, code: str | None = None) -> dict[str, object]:
    """``kind`` overrides ``error.type``, ``param`` names the offending field."""
    client = 400 <= status < 500
    etype = kind or _TYPES.get(status, "invalid_request_error" if client else "api_error")
    return {
        "error": {
            "message": message,
            "type": etype,
            "param": param,
            "code": code or _CODES.get(status),
        }
    }


def error_body(status: int, message: str, *, kind: str | None = None,
               param: str | None = None, code: str | None = None) -> bytes:
    """The JSON error body a client of this dialect expects with HTTP ``status``."""
    return orjson.dumps(error_payload(status, message, kind=kind, param=param, code=code))


def error_event(status: int, message: str, *, kind: str | None = None,
                code: str | None = None) -> bytes:
    """One complete SSE error event in this dialect."""
    data = orjson.dumps(error_payload(status, message, kind=kind, code=code))
    return b"data: " + data + b"\n\n"
