"""Value types and the two protocols (``Provider``, ``Stream``) of the providers package."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

from yarl import URL

from providers.errors import InvalidConfig
from providers.transport.client import encode_headers

__all__ = [
    "ClientHeaders", "Dialect", "Provider", "ProviderConfig", "Reply", "Stream", "UpstreamModel",
    "Usage",
]

Dialect = Literal["openai", "anthropic", "gemini", "responses"]

ClientHeaders = Mapping[str, str] | None
"""Request headers of the inbound client that an adapter may forward (e.g. Anthropic's
``anthropic-beta`` and ``anthropic-version`` on same-dialect pass-through)."""
"""A wire dialect: how a request, a response and a stream are shaped."""

_PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://", "socks4://")
_URL_QUERY_ALLOWED = frozenset({"api-version"})
"""The one query parameter a base_url may keep (OpenAI-compatible Azure-style endpoints)."""
_RESERVED_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "proxy-authorization",
    "upgrade", "te", "trailer", "keep-alive",
})  # fmt: skip
"""Headers the transport writes itself: set by a provider, they would send its secrets to
another host (Host) or split the shared keep-alive connection (framing, hop-by-hop)."""
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An RFC 9110 token: a ``:`` or a space in a name would smuggle another header in."""
_GOOGLE_SUFFIX = ".googleapis.com"


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider from at.yaml (or the store), checked when built.

    ``base_url`` "" means the type's public default. ``timeout`` bounds one whole
    non-streamed exchange and the longest silence inside a stream. ``max_tokens`` fills
    in a required output limit the client left out; ``max_output_tokens`` (0: none) caps
    the one a client asks for, for upstreams with a small output window.
    """

    key: str
    type: str
    base_url: str = ""
    api_key: str = ""
    model: str = ""
    models: tuple[str, ...] = ()
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    proxy: str = ""
    api_version: str = ""
    timeout: float = 600.0
    connect_timeout: float = 10.0
    max_tokens: int = 4096
    max_output_tokens: int = 0
    credentials_file: str = ""
    responses_api: bool | None = None
    """OpenAI-compatible only: the upstream has the Responses API (``/responses``), so a
    Responses client's request passes through; None: only OpenAI's own base URL has it."""

    def __post_init__(self) -> None:
        def bad(name: str, value: object, expected: str) -> InvalidConfig:
            return InvalidConfig(
                f"providers.{self.key}.{name}: got {value!r}, expected {expected}",
                provider=self.key,
            )

        if not self.key:
            raise bad("key", self.key, "a non-empty provider key")
        if not self.timeout > 0:
            raise bad("timeout", self.timeout, "a positive number of seconds")
        if not self.connect_timeout > 0:
            raise bad("connect_timeout", self.connect_timeout, "a positive number of seconds")
        if self.max_tokens < 1:
            raise bad("max_tokens", self.max_tokens, "a positive integer")
        if self.max_output_tokens < 0:
            raise bad("max_output_tokens", self.max_output_tokens, "0 (no limit) or more")
        if self.proxy and not self.proxy.startswith(_PROXY_SCHEMES):
            raise bad("proxy", self.proxy, "an http://, https:// or socks5:// URL")
        self._check_urls()
        if any(c in self.api_key for c in "\r\n\0"):
            raise InvalidConfig(f"providers.{self.key}.api_key: holds a line break or NUL; it "
                                "is sent in a header", provider=self.key)
        self._check_base_url_credentials()
        self._check_extra_headers()
        self._check_vertex_destination()

    def _check_urls(self) -> None:
        """URLs that parse: a port in range, closed IPv6 brackets, a host that decodes and
        holds no space or control character. The value is not repeated (a proxy's userinfo)."""
        for name in ("base_url", "proxy"):
            value: str = getattr(self, name)
            if not value:
                continue
            try:
                url = URL(value)
                host, _ = url.host, url.port  # parsing them is the check
                urlsplit(value)
            except (ValueError, UnicodeError) as exc:
                raise InvalidConfig(f"providers.{self.key}.{name}: not a valid URL ({exc})",
                                    provider=self.key) from None
            if host is not None and any(c.isspace() or not c.isprintable() for c in host):
                raise InvalidConfig(f"providers.{self.key}.{name}: the host holds a space or a "
                                    "control character", provider=self.key)

    def _check_base_url_credentials(self) -> None:
        """A base_url is stored and shown as plain text, so it may carry no credentials
        (userinfo, ``?key=``): those belong in ``api_key`` or ``extra_headers``."""
        parts = urlsplit(self.base_url)
        names = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
        if "@" in parts.netloc:
            found = "user:password@"
        elif parts.query and (not names or names - _URL_QUERY_ALLOWED):
            found = "a query string (only api-version may stay)"
        else:
            return
        # The value is not repeated: it holds the very credentials.
        raise InvalidConfig(
            f"providers.{self.key}.base_url: holds {found}; credentials do not belong in the "
            "URL, put them in api_key or extra_headers instead",
            provider=self.key,
        )

    def _check_extra_headers(self) -> None:
        """Refused here, not on the first request: a provider that could never be served
        must not pass validation. Values are never repeated: they are secrets."""
        where = f"providers.{self.key}.extra_headers"
        for name in self.extra_headers:
            if name.lower() in _RESERVED_HEADERS:
                raise InvalidConfig(f"{where}: {name!r} is set by the gateway itself",
                                    provider=self.key)
            if not _HEADER_NAME.fullmatch(name):
                raise InvalidConfig(f"{where}: {name!r} is not a valid header name",
                                    provider=self.key)
        try:
            encode_headers(self.extra_headers)
        except InvalidConfig as exc:
            raise InvalidConfig(f"{where}: {exc.message}", provider=self.key) from None

    def _check_vertex_destination(self) -> None:
        """Without ``credentials_file`` Vertex mints its token from the node's own Google
        credentials; that token may go to Google only, never to any base_url an admin
        names."""
        if self.type != "vertex" or not self.base_url or self.credentials_file:
            return
        parts = urlsplit(self.base_url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and (host.endswith(_GOOGLE_SUFFIX)
                                        or host == _GOOGLE_SUFFIX[1:]):
            return
        raise InvalidConfig(
            f"providers.{self.key}.base_url: {host!r} is not an https://*.googleapis.com "
            "endpoint; the node's own Google credentials go nowhere else, so set "
            "credentials_file to the service account meant for it",
            provider=self.key,
        )


# Not frozen: one is built on every request, and a frozen dataclass's __init__ costs
# several times more (one object.__setattr__ per field). Treat it as immutable.
@dataclass(slots=True)
class Usage:
    """Tokens one exchange used, as the upstream reported them (0 when not reported)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished non-streamed exchange, its body already in the inbound dialect."""

    body: bytes
    usage: Usage
    status: int = 200


@dataclass(frozen=True, slots=True)
class UpstreamModel:
    """One model as the upstream itself lists it (its id is what a request names)."""

    id: str
    owned_by: str


class Stream(Protocol):
    """An open upstream stream, returned only after the upstream answered 2xx.

    Iterating yields SSE bytes in the inbound dialect. A failure mid-stream is yielded as
    that dialect's SSE error event, then iteration ends and ``failed`` is True; it is
    never yielded as model text. ``usage`` is complete once iteration ends. ``final`` is
    True when the chunk just yielded is known to be the last (it may be empty): a consumer
    may stop there and send it with the end of its own response in one write. ``error`` is
    the failure's message once ``failed`` (as the error event carried it, with the
    provider's secrets scrubbed), "" otherwise. ``arrived`` is True when the whole answer is
    already in hand: iterating will not wait for the upstream.
    """

    usage: Usage
    failed: bool
    final: bool
    error: str

    @property
    def arrived(self) -> bool: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None:
        """Release the upstream response, aborting it if unfinished (idempotent)."""


class Provider(Protocol):
    """One configured upstream; ``dialect`` is the wire dialect it speaks."""

    config: ProviderConfig
    dialect: Dialect

    async def complete(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> Reply:
        """Run one non-streamed exchange; raises ProviderError subclasses."""
        ...

    async def open_stream(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> Stream:
        """Open a stream; raises (never returns) when the upstream answers non-2xx."""
        ...

    async def embed(self, body: dict[str, Any], model: str) -> Reply:
        """Run an OpenAI-dialect embeddings request."""
        ...

    async def count_tokens(self, body: dict[str, Any], model: str,
                           *, headers: ClientHeaders = None) -> int:
        """Count (or estimate) the input tokens of an Anthropic-dialect body."""
        ...

    async def probe(self, model: str) -> int:
        """Send the cheapest real request to ``model`` (one output token, bounded by
        ``PROBE_TIMEOUT``); returns the upstream's 2xx status, raises ProviderError else."""
        ...

    async def list_models(self) -> list[UpstreamModel]:
        """The upstream's own model list, every page up to ``MAX_MODEL_PAGES``; raises
        ``InvalidConfig`` (status 400) when this upstream (or its API version) has none."""
        ...
