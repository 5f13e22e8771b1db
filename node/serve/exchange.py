"""One gateway exchange, from the client's request to its finished record.

The request path of every dialect is the same seven steps, in this order, on one object:
authenticate (the gateway key), resolve (model name -> provider and upstream model), admit
(the key may use it, and its limits and the provider's cover it), call (the upstream, timed
and counted), relay (a stream, chunk by chunk), settle (the usage and status the exchange ends
with; unused reservations go back to the limits) and finish (one
:class:`~node.serve.finished.Finished` record to every hook). Keys and providers come from
memory and the hooks only queue work; the database is asked only when a limit's leased slice
on this node runs out (notes/limits.md).

A model name that is a route (:mod:`node.routing`) makes the call step a loop of attempts:
each picks a target, reserves the limits of that target, and calls it; a connect error, a
timeout, a 429 or a 5xx before the first byte reaches the client moves the request to another
target (its reservation released unused), and the target cools down. Every answer names what
served it (``x-at-provider``, ``x-at-model``, ``x-at-attempts``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from aiohttp import web

from node.catalog import Route
from node.errors import Forbidden, LimitExceeded, ModelNotFound, Unavailable
from node.key_index import model_allowed
from node.limits import Admitted
from node.limits.policy import KeyPolicy
from node.routing import (
    RoutePlan,
    Target,
    TargetState,
    choose,
    exhausted,
    failure_kind,
    retries_left,
)
from node.serve.auth import authenticate
from node.serve.finished import Bodies, Finished, failure_text
from node.serve.policy import apply_policy
from node.serve.relay import relay
from node.state import CLIENT_GONE, GATEWAY, STATE, RequestState
from providers import (
    Dialect,
    DialectSpec,
    ProviderError,
    Reply,
    Stream,
    UpstreamServerError,
    UpstreamTimeout,
    Usage,
)
from providers import dialect as dialect_spec
from store import ApiKeyRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["ATTEMPTS_HEADER", "COST_HEADER", "MODEL_HEADER", "PROVIDER_HEADER", "Exchange",
           "status_of"]

T = TypeVar("T")
log = structlog.get_logger("node.serve")
COST_HEADER = "x-at-cost-usd"  # on non-streamed answers: what the exchange cost, in USD
PROVIDER_HEADER = "x-at-provider"  # the provider key that served (the last one tried)
MODEL_HEADER = "x-at-model"  # the upstream model it was sent as
ATTEMPTS_HEADER = "x-at-attempts"  # upstream calls made for this exchange
_ATTEMPT_COUNTS = tuple(str(n) for n in range(16))  # spelled once
ROUTE_OWNER = "route"  # a route's owner in model lists: it is served by several providers


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

    __slots__ = ("_busy", "_policy", "admitted", "attempts", "bodies", "cost_usd", "dialect",
                 "endpoint", "failure", "first_byte", "gateway", "key", "plan", "request",
                 "route", "span", "spec", "state", "status", "stream", "usage")

    def __init__(self, request: web.Request, dialect: Dialect, endpoint: str) -> None:
        self.request = request
        self.state: RequestState = request[STATE]
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
        self.admitted: Admitted | None = None
        self.plan: RoutePlan | None = None  # the route asked for, when the model is one
        self._busy: TargetState | None = None  # a routed stream's target, in flight till the end
        self.span: Span | None = None  # the exchange's trace span, when telemetry is on
        self.bodies: Bodies | None = None  # what it carried, when the audit log keeps bodies
        self.first_byte: float | None = None  # perf_counter() when a stream's first bytes left
        self.failure = ""  # what failed, when it ended without raising (a stream cut short)

    async def __aenter__(self) -> Exchange:
        self.key = authenticate(self.request, self.gateway)
        tracing = self.gateway.tracing
        if tracing is not None:  # started once the exchange will finish (past the 401)
            self.span = tracing.start(self.request.headers, self.endpoint, self.state.start)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.status is None:
            self.status = status_of(exc)
        # Ended without an answer (an error, the client gone): usage unknown, nothing refunded.
        self.gateway.limits.settle(self.admitted, None)
        busy = self._busy
        if busy is not None:
            self._busy = None
            busy.end()
        if exc is not None and self.attempts and self.route is not None:
            # The error answer (rendered by the middleware) names what failed, too.
            self.state.rate_headers = {**(self.state.rate_headers or {}),
                                       **self.served_headers()}
        if exc is None:
            self._finish("", self.failure)
        else:
            self._finish(type(exc).__name__, failure_text(exc))

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
        """``model_name`` -> provider and upstream model (404 in the dialect if unknown).

        A route resolves to one of its targets, chosen as for a first attempt (what the
        endpoints without retries use: embeddings, token counts, model lookups)."""
        plan = self.gateway.routes.get(model_name)
        if plan is not None:
            self.plan = plan
            self._check_route(plan)
            assert self.key is not None
            now = time.monotonic()
            target = choose(plan, now, (), self.key.providers)
            if target is None:
                raise exhausted(plan, now, None, self.key.providers)
            self.route = target.route
            return self.route
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
        if self.plan is not None:
            return route  # checked as a route, and its target chosen within the key's scope
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
            self.state.rate_headers = admitted.headers
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
            waited = self._waited(sent, exc)
            metrics.upstream_done(provider, exc.status, waited)
            metrics.upstream_error(provider, type(exc).__name__)
            raise
        except BaseException as exc:
            self._waited(sent, exc)
            raise
        metrics.upstream_done(provider, 200, self._waited(sent))
        return result

    def served_headers(self) -> dict[str, str]:
        """``x-at-provider``, ``x-at-model``, ``x-at-attempts``: what served the exchange."""
        route = self.route
        assert route is not None
        attempts = self.attempts
        return {PROVIDER_HEADER: route.provider_key, MODEL_HEADER: route.model,
                ATTEMPTS_HEADER: _ATTEMPT_COUNTS[attempts] if attempts < 16 else str(attempts)}

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
        if self.gateway.keep_bodies:  # the client's bytes: aiohttp kept them as it read them
            self.bodies = Bodies(self.dialect, body, await self.request.read(),
                                 chunks=[] if stream else None)
        body, model_name = apply_policy(self, body, model_name)
        self.spec.check_request(body)
        plan = self.gateway.routes.get(model_name)
        if plan is not None:
            return await self._routed(plan, body, stream=stream, json_array=json_array)
        route = self.admit(self.resolve(model_name))
        body = await self.reserve(route, body)
        self.stream = stream
        headers = self.forwarded_headers()
        if not stream:
            reply = await self.call(
                route.provider.complete(self.dialect, body, route.model, headers=headers))
            return self._answer(reply)
        upstream = await self.call(
            route.provider.open_stream(self.dialect, body, route.model, headers=headers))
        return await relay(self, upstream, json_array=json_array)

    def _answer(self, reply: Reply) -> web.Response:
        self.settle(reply.usage, reply.status)
        if self.bodies is not None:
            self.bodies.reply = reply.body
        headers = self.served_headers()
        headers[COST_HEADER] = f"{self.cost_usd:.6f}"
        return web.Response(body=reply.body, status=reply.status,
                            content_type="application/json", headers=headers)

    # -- a route: attempts on its targets ---------------------------------------------------

    def _check_route(self, plan: RoutePlan) -> None:
        """A key's model scope applies to the route's name, its provider scope to the
        targets (at least one must be within it)."""
        key = self.key
        assert key is not None
        if key.models is not None and plan.name not in key.models:
            raise Forbidden(f"This API key may not use '{plan.name}'", param="model")
        providers = key.providers
        if providers is not None and not any(target.route.provider_key in providers
                                             for target in plan.targets):
            raise Forbidden(f"This API key may use none of the providers of '{plan.name}'",
                            param="model")

    async def _routed(self, plan: RoutePlan, body: dict[str, Any], *, stream: bool,
                      json_array: bool) -> web.StreamResponse:
        """Try the route's targets until one answers (see the module's docstring)."""
        self.plan = plan
        self._check_route(plan)
        assert self.key is not None
        providers = self.key.providers
        self.stream = stream
        headers = self.forwarded_headers()
        tried: list[Target] = []
        last: BaseException | None = None
        target = choose(plan, time.monotonic(), tried, providers)
        while target is not None:
            tried.append(target)
            route = self.route = target.route
            try:
                sent = await self.reserve(route, body)
            except LimitExceeded as exc:  # this target's provider limit is spent: the next
                last = exc
                target = choose(plan, time.monotonic(), tried, providers)
                continue
            failure, answer, waited = await self._attempt(plan, target, sent, headers, stream)
            if failure is None:
                assert answer is not None
                if isinstance(answer, Reply):
                    return self._answer(answer)
                upstream, first = answer
                return await relay(self, upstream, json_array=json_array, first=first)
            kind = failure_kind(failure)
            if kind is None:
                self._count_attempt(failure, waited, retried=False)
                raise failure  # the request's own fault: any target would say the same
            last = failure
            target = (choose(plan, time.monotonic(), tried, providers)
                      if retries_left(plan, kind, self.attempts) else None)
            self._count_attempt(failure, waited, retried=target is not None)
        raise exhausted(plan, time.monotonic(), last, providers)

    async def _attempt(
        self, plan: RoutePlan, target: Target, body: dict[str, Any],
        headers: dict[str, str] | None, stream: bool,
    ) -> tuple[ProviderError | None, Reply | tuple[Stream, bytes] | None, float]:
        """One call to ``target``: (None, its answer, seconds) or (the failure, None,
        seconds). A failed attempt's reservation is released unused and its target's state
        updated; a stream that failed before its first event is a failure too."""
        route, state = target.route, target.state
        state.begin()
        self.attempts += 1
        started = time.perf_counter()
        try:
            answer = await self._call_target(plan, route, body, headers, stream)
        except ProviderError as exc:
            failure: ProviderError = exc
        except BaseException as exc:
            # Cancelled (the client left) or broken: no verdict on the target either way.
            state.abandoned()
            state.end()
            self._waited(started, exc)
            raise
        else:
            if isinstance(answer, Reply) or not answer[0].failed:
                waited = self._waited(started)
                state.succeeded(waited)
                self.gateway.metrics.upstream_done(route.provider_key, 200, waited, "ok")
                if isinstance(answer, Reply):
                    state.end()
                else:
                    self._busy = state  # in flight until the stream ends
                return None, answer, waited
            await answer[0].aclose()
            failure = UpstreamServerError(
                f"upstream {route.provider_key!r} failed before its stream's first event",
                provider=route.provider_key)
        waited = self._waited(started, failure)
        state.end()
        # the attempt failed before any output: its reservation goes back whole
        self.gateway.limits.release(self.admitted)
        self.admitted = None
        kind = failure_kind(failure)
        if kind is None:
            state.succeeded(waited)  # it answered (the request's own 4xx): it is up
        else:
            state.failed(kind, failure, plan.cooldown, time.monotonic())
            self.gateway.metrics.cooled_down(target.name, kind)
        return failure, None, waited

    async def _call_target(
        self, plan: RoutePlan, route: Route, body: dict[str, Any],
        headers: dict[str, str] | None, stream: bool,
    ) -> Reply | tuple[Stream, bytes]:
        """The upstream call of one attempt, within the route's ``timeout`` (a stream's
        up to its first event, which is read here: until then a retry is still possible)."""
        if not plan.timeout:  # no timeout of the route's own (the usual case): no timer
            return await self._call_upstream(route, body, headers, stream)
        try:
            async with asyncio.timeout(plan.timeout):
                return await self._call_upstream(route, body, headers, stream)
        except ProviderError:
            raise
        except TimeoutError:
            raise UpstreamTimeout(
                f"upstream {route.provider_key!r} did not answer within the route's timeout "
                f"of {plan.timeout:g}s", provider=route.provider_key) from None

    async def _call_upstream(self, route: Route, body: dict[str, Any],
                             headers: dict[str, str] | None,
                             stream: bool) -> Reply | tuple[Stream, bytes]:
        if not stream:
            return await route.provider.complete(self.dialect, body, route.model,
                                                 headers=headers)
        upstream = await route.provider.open_stream(self.dialect, body, route.model,
                                                    headers=headers)
        try:
            first = await anext(aiter(upstream), b"")
        except BaseException:
            await upstream.aclose()
            raise
        return upstream, first

    def _count_attempt(self, failure: ProviderError, waited: float, *, retried: bool) -> None:
        assert self.route is not None
        provider = self.route.provider_key
        metrics = self.gateway.metrics
        metrics.upstream_done(provider, failure.status, waited,
                              "retried" if retried else "failed")
        metrics.upstream_error(provider, type(failure).__name__)

    def visible_models(self) -> list[tuple[str, str]]:
        """(``provider/model`` id, provider key) of every model the key may use; a route
        is listed by its name, owned by ``route``."""
        assert self.key is not None
        key = self.key
        models = [(model_id, provider_key)
                  for model_id, provider_key, _ in self.gateway.catalog.model_ids()
                  if model_allowed(key, provider_key, model_id.split("/", 1)[1])]
        for name, plan in sorted(self.gateway.routes.plans().items()):
            if key.models is not None and name not in key.models:
                continue
            if key.providers is None or any(target.route.provider_key in key.providers
                                            for target in plan.targets):
                models.append((name, ROUTE_OWNER))
        return models

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
        tracing = self.gateway.tracing
        if self.span is not None and tracing is not None:  # the upstream joins the trace
            found.update(tracing.headers(self.span))
        return found or None

    # -- internals --------------------------------------------------------------------------

    def _waited(self, sent: float, failure: BaseException | None = None) -> float:
        waited = time.perf_counter() - sent
        self.state.upstream_seconds += waited
        tracing, route = self.gateway.tracing, self.route
        if self.span is not None and tracing is not None and route is not None:
            tracing.upstream(self.span, route.provider_key, route.provider.config.type,
                             route.model, sent, failure)
        return waited

    def _finish(self, error: str, message: str) -> None:
        key, route, state = self.key, self.route, self.state
        if key is None:
            return
        start, now = state.start, time.perf_counter()
        latency = now - start
        overhead = state.overhead_seconds(now)  # the headers, if still to leave, agree
        first_byte = self.first_byte
        done = Finished(
            at=datetime.now(UTC), request_id=state.request_id, key=key,
            dialect=self.dialect, endpoint=self.endpoint,
            provider=route.provider_key if route else "", model=route.model if route else "",
            stream=self.stream, status=self.status or 200, usage=self.usage,
            latency_seconds=latency, upstream_seconds=state.upstream_seconds,
            attempts=self.attempts, error=error, message=message,
            ttft_seconds=None if first_byte is None else first_byte - start,
            overhead_seconds=overhead, cost_usd=self.cost_usd, bodies=self.bodies)
        for hook in self.gateway.finished_hooks:
            try:
                hook(done)
            except Exception:  # a broken hook must not fail an answered request
                log.exception("finished hook failed", hook=repr(hook))
        tracing = self.gateway.tracing
        if self.span is not None and tracing is not None:
            tracing.end(self.span, done, route.provider.config.type if route else "",
                        self.plan.name if self.plan is not None else "")
