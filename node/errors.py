"""Errors raised by the gateway process itself.

The tree::

    NodeError
     ├── ConfigError(NodeError, ValueError)      bad at.yaml / environment; stops the node
     └── RequestError                            answered to a client with ``status``
          ├── BadRequest                         400 malformed JSON, wrong field types
          ├── Unauthorized                       401 missing, unknown, disabled or expired key
          ├── Forbidden                          403 model or provider outside the key's scope
          ├── ModelNotFound(RequestError, LookupError)  404 unknown provider or model
          ├── RequestTimeout                     408 body slower than ``server.body_timeout``
          ├── PayloadTooLarge                    413 body over ``server.max_body_bytes``
          ├── LimitExceeded                      429 a key's or provider's limit ran out
          └── Unavailable                        503 e.g. no cluster quorum for a rotation

The error middleware is the only place that turns these (and the ``providers``, ``store``
and ``cluster`` trees) into HTTP responses, in the dialect of the route.
"""

from __future__ import annotations

from collections.abc import Mapping


class NodeError(Exception):
    """Root of every error the node package raises."""


class ConfigError(NodeError, ValueError):
    """The configuration is invalid; ``str()`` is one line naming the key."""


class RequestError(NodeError):
    """A client request that cannot be served; carries the HTTP status to answer."""

    status = 500
    kind: str | None = None
    code: str | None = None
    headers: Mapping[str, str] | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class BadRequest(RequestError):
    status = 400


class Unauthorized(RequestError):
    status = 401


class Forbidden(RequestError):
    status = 403


class ModelNotFound(RequestError, LookupError):
    status = 404


class RequestTimeout(RequestError):
    status = 408


class PayloadTooLarge(RequestError):
    status = 413


class LimitExceeded(RequestError):
    """429: a limit ran out. ``code`` is OpenAI's (``rate_limit_exceeded``, or
    ``insufficient_quota`` for a spent USD budget); ``headers`` carry ``Retry-After`` and
    ``x-ratelimit-*``."""

    status = 429

    def __init__(self, message: str, *, code: str, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.code = code
        self.headers = headers


class Conflict(RequestError):
    status = 409


class Unavailable(RequestError):
    status = 503
