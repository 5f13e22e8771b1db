"""One gateway exchange, from the client's request to its finished record.

The request path of every dialect is the same seven steps, in this order, on one object:
authenticate (the gateway key), resolve (model name -> provider and upstream model), admit
(the key may use it, and its limits and the provider's cover it), call (the upstream, timed
and counted), relay (a stream, chunk by chunk), settle (the usage and status the exchange ends
with; unused reservations go back to the limits) and finish (one
:class:`~node.serve.finished.Finished` record to every hook). Keys and providers come from
memory and the hooks only queue work; the database is asked only when a limit's leased slice
on this node runs out (notes/limits.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import structlog
from aiohttp import web

from node.catalog import Route
from node.errors import Forbidden, ModelNotFound, Unavailable
from node.key_index import model_allowed
from node.limits import Admitted
from node.limits.policy import KeyPolicy
from node.serve.auth import authenticate
from node.serve.finished import Finished
from node.serve.policy import apply_policy
from node.serve.relay import relay
from node.state import CLIENT_GONE, GATEWAY, RATE_HEADERS, REQUEST_ID, START, UPSTREAM_SECONDS
from providers import Dialect, DialectSpec, ProviderError, Usage
from providers import dialect as dialect_spec
from store import ApiKeyRecord

__all__ = ["COST_HEADER", "Exchange", "status_of"]

T = TypeVar("T")
log = structlog.get_logger("node.serve")
COST_HEADER = "x-at-cost-usd"  # on non-streamed answers: what the exchange cost, in USD


def status_of(exc: BaseException | None) -> int:
    """The status an exception ends an exchange with (what the error middleware answers)."""
    if exc is None:
        return 200
    if not isinstance(exc, Exception):
        return CLIENT_GONE  # cancelled: the client hung up
    status = getattr(exc, "status", 500)
    return status if isinstance(status, int) else 500


class Exchange:
    """The request path as one object; use it as ``async with Exchange(...) as exchange``.

    Entering authenticates (401 before anything else is read); leaving, however the block
    ends (answered, raised, or cancelled because the client left), finishes the exchange
    exactly once.
    """

    __slots__ = ("_policy", "admitted", "attempts", "cost_usd", "dialect", "endpoint", "gateway",
                 "key", "request", "route", "spec", "status", "stream", "upstream_seconds",
                 "usage")

    def __init__(self, request: web.Request, dialect: Dialect, endpoint: str) -> None:
        self.request = request
        self.gateway = request.app[GATEWAY]
        self.dialect: Dialect = dialect
        self.spec: DialectSpec = dialect_spec(dialect)
        self.endpoint = endpoint
        self.key: ApiKeyRecord | None = None
        self._policy: KeyPolicy | None = None
        self.route: Route | None = None
        self.stream = False
        self.usage = Usage()
        self.cost_usd = 0.0  # what the usage costs, with the key's price multiplier
        self.status: int | None = None  # None until settled
        self.attempts = 0
        self.upstream_seconds = 0.0
        self.admitted: Admitted | None = None

    async def __aenter__(self) -> Exchange:
        self.key = authenticate(self.request, self.gateway)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.status is None:
            self.status = status_of(exc)
        # Ended without an answer (an error, the client gone): usage unknown, nothing refunded.
        self.gateway.limits.settle(self.admitted, None)
        self._finish(type(exc).__name__ if exc is not None else "")

    @property
    def policy(self) -> KeyPolicy:
        """The key's policy, read once per exchange."""
        policy = self._policy
        if policy is None:
            assert self.key is not None
            policy = self._policy = self.gateway.limits.policy(self.key)
        return policy

    # -- the steps ------------------------------------------------------------------------

    def resolve(self, model_name: str) -> Route:
        """``model_name`` -> provider and upstream model (404 in the dialect if unknown)."""
        try:
            self.route = self.gateway.catalog.resolve(model_name)
        except ModelNotFound:
            if self.gateway.stale_key:
                # Stored providers cannot be read until a peer hands over the key: the model
                # may well exist, so say "not yet", not "no such model".
                raise Unavailable(
                    "This node is waiting for the current encryption key from its peers and "
                    "does not serve stored providers yet; retry shortly or use another node"
                ) from None
            raise
        return self.route

    def admit(self, route: Route) -> Route:
        """Check the key may use ``route`` (403 otherwise); limits will be taken here."""
        assert self.key is not None
        if not model_allowed(self.key, route.provider_key, route.model):
            raise Forbidden(
                f"This API key may not use '{route.provider_key}/{route.model}'", param="model")
        return route

    async def reserve(self, route: Route, body: dict[str, Any]) -> dict[str, Any]:
        """Take what ``body`` may use from the key's and the provider's limits (429 or 503
        when one ran out); returns the body to send, which may carry an output limit now."""
        admitted = await self.gateway.limits.admit(self, route, body)
        if admitted is None:
            return body
        self.admitted = admitted
        if admitted.headers:
            self.request[RATE_HEADERS] = admitted.headers
        return admitted.body

    async def call(self, call: Awaitable[T]) -> T:
        """Await one upstream call: timed (kept out of the overhead header) and counted."""
        assert self.route is not None
        provider = self.route.provider_key
        metrics = self.gateway.metrics
        self.attempts += 1
        sent = time.perf_counter()
        try:
            result = await call
        except ProviderError as exc:
            waited = self._waited(sent)
            metrics.upstream_done(provider, exc.status, waited)
            metrics.upstream_error(provider, type(exc).__name__)
            raise
        except BaseException:
            self._waited(sent)
            raise
        metrics.upstream_done(provider, 200, self._waited(sent))
        return result

    def settle(self, usage: Usage, status: int) -> None:
        """What the exchange used, cost and answered; the finished record carries it."""
        self.usage = usage
        self.status = status
        if self.route is not None and self.key is not None:
            self.cost_usd = self.gateway.prices.cost(
                self.route.provider_key, self.route.model, usage,
                self.policy.price_multiplier)
        # A failed stream's or a departed client's usage is incomplete: keep the reservation.
        known = usage if status < 400 else None
        self.gateway.limits.settle(self.admitted, known, self.cost_usd)

    # -- the chat-style flow every dialect shares -------------------------------------------

    async def chat(self, body: dict[str, Any], model_name: str, *, stream: bool,
                   json_array: bool = False) -> web.StreamResponse:
        """Route one chat-style exchange to its provider and answer in the inbound dialect.

        ``json_array``: deliver the stream as one JSON array written element by element
        (Gemini's ``streamGenerateContent`` without ``alt=sse``) instead of SSE.
        """
        body, model_name = apply_policy(self, body, model_name)
        self.spec.check_request(body)
        route = self.admit(self.resolve(model_name))
        body = await self.reserve(route, body)
        self.stream = stream
        headers = self.forwarded_headers()
        if not stream:
            reply = await self.call(
                route.provider.complete(self.dialect, body, route.model, headers=headers))
            self.settle(reply.usage, reply.status)
            return web.Response(body=reply.body, status=reply.status,
                                content_type="application/json",
                                headers={COST_HEADER: f"{self.cost_usd:.6f}"})
        upstream = await self.call(
            route.provider.open_stream(self.dialect, body, route.model, headers=headers))
        return await relay(self, upstream, json_array=json_array)

    def visible_models(self) -> list[tuple[str, str]]:
        """(``provider/model`` id, provider key) of every model the key may use."""
        assert self.key is not None
        key = self.key
        return [(model_id, provider_key)
                for model_id, provider_key, _ in self.gateway.catalog.model_ids()
                if model_allowed(key, provider_key, model_id.split("/", 1)[1])]

    def model_info(self, model_id: str) -> web.Response:
        """One model the key may use, as ``provider/model`` or any name that resolves."""
        owner = dict(self.visible_models()).get(model_id)
        if owner is None:
            owner = self.admit(self.resolve(model_id)).provider_key
        body = self.spec.model(model_id, owner, self.gateway.started)
        return web.Response(body=body, content_type="application/json")

    def forwarded_headers(self) -> dict[str, str] | None:
        """The client headers an adapter may forward upstream (Anthropic's version and betas)."""
        headers = self.request.headers
        found = {name: headers[name] for name in self.spec.forwarded_headers
                 if name in headers}
        return found or None

    # -- internals --------------------------------------------------------------------------

    def _waited(self, sent: float) -> float:
        waited = time.perf_counter() - sent
        self.upstream_seconds += waited
        self.request[UPSTREAM_SECONDS] = self.upstream_seconds
        return waited

    def _finish(self, error: str) -> None:
        key, route, request = self.key, self.route, self.request
        if key is None:
            return
        done = Finished(
            at=datetime.now(UTC), request_id=request.get(REQUEST_ID, ""), key=key,
            dialect=self.dialect, endpoint=self.endpoint,
            provider=route.provider_key if route else "", model=route.model if route else "",
            stream=self.stream, status=self.status or 200, usage=self.usage,
            latency_seconds=time.perf_counter() - request[START],
            upstream_seconds=self.upstream_seconds, attempts=self.attempts, error=error,
            cost_usd=self.cost_usd)
        for hook in self.gateway.finished_hooks:
            try:
                hook(done)
            except Exception:  # a broken hook must not fail an answered request
                log.exception("finished hook failed", hook=repr(hook))
