"""``DialectSpec``: everything the gateway needs to know about one wire dialect.

One object per dialect answers it all (codecs, streams, errors, keep-alive, forwarded headers,
output limit, model list, usage), so a new dialect is one folder and one registry line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from providers.canonical import Request, Response
from providers.dialects.streams import Decoder, Encoder
from providers.types import Dialect, ProviderConfig, Usage

__all__ = ["DialectSpec", "Framer"]


class Framer(Protocol):
    """Reshapes a dialect's SSE bytes into another framing, incrementally."""

    def feed(self, chunk: bytes) -> bytes:
        """The reframed bytes of ``chunk`` (whole SSE events)."""
        ...

    def end(self) -> bytes:
        """What closes the framing once the stream ended."""
        ...


class DialectSpec(Protocol):
    """One wire dialect (see ``providers.dialects.DIALECTS``)."""

    @property
    def name(self) -> Dialect: ...

    @property
    def ping(self) -> bytes:
        """The keep-alive a quiet stream gets, harmless to this dialect's clients."""
        ...

    @property
    def forwarded_headers(self) -> tuple[str, ...]:
        """Client headers an adapter may forward upstream when both speak this dialect."""
        ...

    def check_request(self, body: Any, *, count_only: bool = False) -> None:
        """Raise ``InvalidRequest`` (``param`` = the offending field's JSON path) unless
        ``body`` has, at every depth the codecs read, the types they rely on.

        ``count_only``: the body is for a token count, which needs no output limit.
        """
        ...

    def with_model(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        """A same-dialect body for ``model`` (a copy only when something changes)."""
        ...

    def parse_request(self, body: dict[str, Any], model: str = "") -> Request:
        """The canonical request (``model`` is the URL's model where the body has none)."""
        ...

    def render_request(self, request: Request, config: ProviderConfig) -> dict[str, Any]: ...

    def parse_response(self, body: dict[str, Any]) -> Response: ...

    def render_response(self, response: Response) -> dict[str, Any]: ...

    def decoder(self, provider: str) -> Decoder:
        """A decoder of this dialect's upstream stream (``provider`` names it in errors)."""
        ...

    def encoder(self, model: str, request: dict[str, Any] | None = None) -> Encoder:
        """An encoder of this dialect's client stream; ``request`` is the client's body."""
        ...

    def error_body(self, status: int, message: str, *, kind: str | None = None,
                   param: str | None = None, code: str | None = None) -> bytes: ...

    def error_event(self, status: int, message: str, *, kind: str | None = None,
                    code: str | None = None) -> bytes: ...

    def output_limit(self, body: dict[str, Any]) -> int | None:
        """The output-token cap the client asked for, if any: the largest, where the dialect
        has several fields (a server honours one of them, and may not say which)."""
        ...

    def cap_output(self, body: dict[str, Any], cap: int, *, fill: bool = False
                   ) -> dict[str, Any]:
        """``body`` with its output-token limit lowered to ``cap`` (a copy when lowered);
        ``fill``: set it to ``cap`` too when the client set none."""
        ...

    def with_system_prompt(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        """A copy of ``body`` with ``text`` as this dialect's system instruction, before the
        client's own (``body`` as it is when its shape is wrong: the check reports it)."""
        ...

    def model_list(self, models: Sequence[tuple[str, str]], created: float) -> bytes:
        """The ``/models`` answer: ``models`` are (``provider/model`` id, provider key)."""
        ...

    def model(self, model_id: str, owner: str, created: float) -> bytes:
        """One model, as ``models.retrieve`` (``GET /models/{id}``) gets it."""
        ...

    def usage_from(self, raw: Any) -> Usage:
        """This dialect's usage object in the canonical meaning (the one converter)."""
        ...

    def usage_to(self, usage: Usage) -> dict[str, Any]:
        """Canonical usage as this dialect's usage object."""
        ...

    def array_framer(self) -> Framer | None:
        """A framer of this dialect's JSON-array streams, None where there are none."""
        ...
