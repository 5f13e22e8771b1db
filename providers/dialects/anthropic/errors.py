"""Anthropic error bodies: ``{"type": "error", "error": {"type", "message"}}``; SSE
``event: error``. Also the other way: an upstream's ``event: error`` as a ``ProviderError``."""

from __future__ import annotations

from typing import Final

import orjson

from providers.errors import UpstreamError
from providers.upstream_errors import upstream_error

__all__ = ["anthropic_error", "error_body", "error_event", "error_payload"]

_TYPES: Final[dict[int, str]] = {
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
_STATUSES: Final[dict[str, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def error_payload(status: int, message: str, *, kind: str | None = None,
                  param: str | None = None, code: str | None = None) -> dict[str, object]:
    """``kind`` overrides ``error.type``; Anthropic's shape has no ``param`` nor ``code``."""
    client = 400 <= status < 500
    etype = kind or _TYPES.get(status, "invalid_request_error" if client else "api_error")
    return {"type": "error", "error": {"type": etype, "message": message}}


def error_body(status: int, message: str, *, kind: str | None = None,
               param: str | None = None, code: str | None = None) -> bytes:
    """The JSON error body a client of this dialect expects with HTTP ``status``."""
    return orjson.dumps(error_payload(status, message, kind=kind, param=param, code=code))


def error_event(status: int, message: str, *, kind: str | None = None,
                code: str | None = None) -> bytes:
    """One complete SSE error event in this dialect."""
    data = orjson.dumps(error_payload(status, message, kind=kind, code=code))
    return b"event: error\ndata: " + data + b"\n\n"


def anthropic_error(provider: str, data: bytes) -> UpstreamError:
    """The error for an Anthropic ``event: error`` (overload keeps its 529)."""
    try:
        obj = orjson.loads(data)
        kind = str(obj["error"]["type"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        kind = "api_error"
    status = _STATUSES.get(kind, 500)
    error = upstream_error(provider, status, data)
    if status == 529:
        error.status = 529
    return error
