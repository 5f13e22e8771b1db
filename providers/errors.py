"""The one exception tree of the ``providers`` package.

::

    ProviderError                        root; status 502
     ├── InvalidConfig(ValueError)        a provider config cannot be built
     ├── InvalidRequest(ValueError)       the inbound body has the wrong shape; 400
     ├── UpstreamError                    the upstream answered non-2xx
     │    ├── UpstreamRateLimited         429, keeps the upstream's Retry-After
     │    ├── UpstreamClientError         the upstream's own 4xx (400/401/403/404/413, ...)
     │    └── UpstreamServerError         upstream 5xx (or anything else non-2xx); 502
     ├── UpstreamTimeout(TimeoutError)    no answer in time; 504
     └── UpstreamUnreachable(ConnectionError)
                                          connect failed or the connection dropped; 502

Every error carries typed fields: ``provider`` (the provider key, "" when not known),
``message`` (one line, safe to show a client), ``status`` (the HTTP status the gateway
should answer) and ``retry_after`` (the upstream's Retry-After value or None).
Leaves also inherit the stdlib meaning, so ``except TimeoutError`` still works.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ContextOverflow",
    "InvalidConfig",
    "InvalidRequest",
    "ProviderError",
    "UpstreamClientError",
    "UpstreamError",
    "UpstreamRateLimited",
    "UpstreamServerError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]


class ProviderError(Exception):
    """Root of every error the providers package raises.

    ``status`` defaults to the class's ``default_status``; ``upstream_status`` keeps the
    status the upstream itself answered (None when it never answered).
    """

    default_status: ClassVar[int] = 502
    code: ClassVar[str | None] = None
    """OpenAI's ``error.code`` for this failure, when it has a specific one."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: str | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = self.default_status if status is None else status
        self.retry_after = retry_after
        self.upstream_status = upstream_status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"status={self.status})"
        )


class InvalidConfig(ProviderError, ValueError):
    """A provider config is unusable (unknown type, bad base_url, bad proxy, ...)."""


class InvalidRequest(ProviderError, ValueError):
    """The inbound request body has the wrong shape; ``param`` names the field."""

    default_status: ClassVar[int] = 400

    def __init__(self, message: str, *, provider: str = "", param: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.param = param


class UpstreamError(ProviderError):
    """The upstream answered with a non-2xx status."""


class UpstreamRateLimited(UpstreamError):
    """The upstream answered 429; ``retry_after`` carries its Retry-After header."""

    default_status: ClassVar[int] = 429


class UpstreamClientError(UpstreamError):
    """The upstream rejected the request with a 4xx; ``status`` is that 4xx."""

    default_status: ClassVar[int] = 400


class ContextOverflow(UpstreamClientError):
    """The prompt does not fit the model's context window (always 400 to the client).

    ``prompt_tokens`` and ``limit`` are set when the upstream named them; the message then
    reads ``prompt is too long: N tokens > M maximum``.
    """

    code: ClassVar[str | None] = "context_length_exceeded"

    def __init__(self, message: str, *, provider: str = "", upstream_status: int | None = None,
                 prompt_tokens: int | None = None, limit: int | None = None) -> None:
        super().__init__(message, provider=provider, status=400, upstream_status=upstream_status)
        self.prompt_tokens = prompt_tokens
        self.limit = limit


class UpstreamServerError(UpstreamError):
    """The upstream failed (5xx, or a 2xx body the gateway cannot use)."""


class UpstreamTimeout(ProviderError, TimeoutError):
    """The upstream did not answer (or stopped sending) within the configured timeout."""

    default_status: ClassVar[int] = 504


class UpstreamUnreachable(ProviderError, ConnectionError):
    """The upstream could not be reached, or the connection dropped mid-exchange."""
