"""The one moment an exchange ends, and what it reports.

Every gateway exchange that got past authentication ends exactly once in a :class:`Finished`
record, handed to each hook in ``Gateway.finished_hooks``: usage accounting today; limits,
the audit log and live statistics hook in the same way. Hooks run on the request path, so they
must be cheap and must not block or raise: queue work, never await it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.catalog import Catalog
from node.errors import RequestError
from node.metrics import Metrics
from providers import Dialect, ProviderError, Usage
from store import ERROR_CHARS, ApiKeyRecord, UsageRecord, UsageWriter

__all__ = ["CLIENT_LEFT_TEXT", "Accounting", "Bodies", "Finished", "FinishedHook",
           "failure_text"]


@dataclass(slots=True)
class Bodies:
    """What an exchange carried, kept for the audit log only when ``audit.bodies`` asks: the
    bytes already in hand (the client's body as read, the reply as answered, a stream's
    chunks as relayed), referenced, never copied or encoded on the request path.

    ``request`` is the parsed body (its shape is read from it), ``raw`` the bytes it was
    parsed from; ``reply`` a non-streamed answer's body; ``chunks`` a stream's SSE bytes in
    the client's dialect (before any JSON-array framing).
    """

    dialect: Dialect
    request: dict[str, Any]
    raw: bytes
    reply: bytes | None = None
    chunks: list[bytes] | None = None


# Not frozen: one is built on every request, and a frozen dataclass's __init__ costs
# several times more (one object.__setattr__ per field). Treat it as immutable.
@dataclass(slots=True)
class Finished:
    """One finished exchange.

    ``provider`` and ``model`` are "" when the exchange ended before a model was resolved
    (a malformed body, an unknown model); ``attempts`` counts upstream calls made (0: refused
    before any). ``status`` is what the client was answered (502 for a stream that failed
    after its headers left); ``error`` names the exception type that ended it, if any, and
    ``message`` says what failed (see :func:`failure_text`; "" for a success).
    ``ttft_seconds``: from the request's arrival to the first bytes of a streamed answer
    written to the client (None for an answer sent whole); ``overhead_seconds``: the
    gateway's own time, the value of the answer's ``x-at-overhead-ms``.
    """

    at: datetime
    request_id: str
    key: ApiKeyRecord
    dialect: Dialect
    endpoint: str
    provider: str
    model: str
    stream: bool
    status: int
    usage: Usage
    latency_seconds: float
    upstream_seconds: float
    attempts: int
    error: str = ""
    message: str = ""
    ttft_seconds: float | None = None
    overhead_seconds: float = 0.0
    cost_usd: float = 0.0  # with the key's price multiplier; 0.0 when no price is known
    bodies: Bodies | None = None  # only while audit.bodies is not off


FinishedHook = Callable[[Finished], None]
CLIENT_LEFT_TEXT = "the client closed the connection"


def failure_text(exc: BaseException) -> str:
    """What ended an exchange, short enough to store and safe to show an admin.

    The gateway's own errors and the providers' say what the client was answered (an
    adapter scrubs its provider's secrets from upstream text before it raises, so the text
    is the relayed one, scrubbed alike); anything else is named by its type only, as its
    text may hold anything (the node's log has it).
    """
    if isinstance(exc, ProviderError | RequestError):
        return exc.message[:ERROR_CHARS]
    if not isinstance(exc, Exception):
        return CLIENT_LEFT_TEXT  # cancelled: aiohttp cancels the handler of a client gone
    return f"internal error ({type(exc).__name__}); see the node's log"


class Accounting:
    """The usage hook: token and cost metrics and one usage record per exchange that reached
    (or tried to reach) an upstream."""

    def __init__(self, metrics: Metrics, usage: UsageWriter, catalog: Catalog) -> None:
        self._metrics = metrics
        self._usage = usage
        self._catalog = catalog

    def __call__(self, done: Finished) -> None:
        if not done.attempts:
            return  # refused before any upstream call: nothing was used
        usage = done.usage
        label = self._catalog.metric_label(done.provider, done.model)
        self._metrics.tokens_used(done.key.id, label, usage)
        if done.cost_usd:
            self._metrics.cost_used(done.key.id, done.provider, label, done.cost_usd)
        self._usage.record(UsageRecord(
            at=done.at,
            key_id=done.key.id,
            provider=done.provider,
            model=done.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            status=done.status,
            latency_ms=done.latency_seconds * 1000,
            cost_usd=done.cost_usd,
            request_id=done.request_id,
            ttft_ms=None if done.ttft_seconds is None else done.ttft_seconds * 1000,
            overhead_ms=done.overhead_seconds * 1000,
            attempts=done.attempts,
            error=done.message,
        ))
