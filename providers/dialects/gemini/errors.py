"""Gemini error bodies: ``{"error": {"code", "message", "status"}}`` (google.rpc.Code names);
SSE ``data:``."""

from __future__ import annotations

from typing import Final

import orjson

__all__ = ["error_body", "error_event", "error_payload"]

_STATUSES: Final[dict[int, str]] = {
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


def error_payload(status: int, message: str, *, kind: str | None = None,
                  param: str | None = None, code: str | None = None) -> dict[str, object]:
    """``kind`` overrides ``error.status``; Gemini's shape has no ``param`` nor ``code``."""
    client = 400 <= status < 500
    name = kind or _STATUSES.get(status, "FAILED_PRECONDITION" if client else "INTERNAL")
    return {"error": {"code": status, "message": message, "status": name}}


def error_body(status: int, message: str, *, kind: str | None = None,
               param: str | None = None, code: str | None = None) -> bytes:
    """The JSON error body a client of this dialect expects with HTTP ``status``."""
    return orjson.dumps(error_payload(status, message, kind=kind, param=param, code=code))


def error_event(status: int, message: str, *, kind: str | None = None,
                code: str | None = None) -> bytes:
    """One complete SSE error event in this dialect."""
    data = orjson.dumps(error_payload(status, message, kind=kind, code=code))
    return b"data: " + data + b"\n\n"
