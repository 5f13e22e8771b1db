"""The node's limits on the request path: what a request needs, admit or refuse, settle.

:class:`Limits` (one per node, owned by the Gateway) turns a key's limits and its provider's
into needs (requests 1, a provable input bound, the output limit the request carries upstream,
micro-USD priced from those bounds), takes them from the :class:`LeaseCache`, and refuses with
a 429 in the route's dialect naming the scope and the limit (503 when the slices ran out and
the database cannot be asked: never an unlimited pass). ``max_concurrent`` is not windowed, so
leases do not fit it: each node admits at most ``floor(cap / replicas)`` at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from node.errors import LimitExceeded, Unavailable
from node.limits.cache import LeaseCache, Limit, Refusal, Reservation
from node.limits.janitor import Janitor
from node.limits.needs import dimension, input_bound, input_used, with_output_limit
from node.limits.policy import KeyPolicy, key_policy
from node.metrics import Metrics
from providers import Usage
from store import ApiKeyRecord

if TYPE_CHECKING:
    from node.catalog import Route
    from node.serve.exchange import Exchange

__all__ = ["USD_UNIT", "Admitted", "Limits", "PriceBook", "limits_of"]

USD_UNIT = 1_000_000
"""USD limits are kept in micro-USD: integers, like every other unit."""


class PriceBook(Protocol):
    """Prices in USD: ``bound`` of a request before it runs, ``cost`` of what it used."""

    def bound(self, provider_key: str, model: str, input_tokens: int, output_tokens: int,
              multiplier: float = 1.0, *, required: bool = False) -> float: ...

    def cost(self, provider_key: str, model: str, usage: Usage,
             multiplier: float = 1.0) -> float: ...


@dataclass(slots=True)
class Admitted:
    """One admitted request: its (possibly output-limited) body and what it holds."""

    body: dict[str, Any]
    reservation: Reservation | None
    concurrent: tuple[str, ...]
    provider_key: str
    model: str
    multiplier: float
    headers: dict[str, str]
    settled: bool = False


def limits_of(key: ApiKeyRecord, provider_key: str,
              provider_limits: Mapping[str, float] | None,
              policy: KeyPolicy | None = None) -> list[tuple[Limit | None, str, int]]:
    """(windowed limit or None for ``max_concurrent``, scope, cap) of a key and a provider."""
    found: list[tuple[Limit | None, str, int]] = []
    key_limits = (policy or key_policy(key)).limits
    for scope, caps in ((f"key:{key.id}", key_limits),
                        (f"provider:{provider_key}", provider_limits or {})):
        for name, cap in caps.items():
            dim, period = dimension(name)
            units = round(cap * USD_UNIT) if dim == "usd" else int(cap)
            limit = Limit(scope, name, period, units) if period is not None else None
            found.append((limit, scope, units))
    return found


class Limits:
    """Admission and settlement of every limited request of this node."""

    def __init__(self, cache: LeaseCache, metrics: Metrics, replicas: int = 1, *,
                 janitor: Janitor | None = None) -> None:
        self.cache = cache
        self._metrics = metrics
        self._replicas = max(1, replicas)
        self._janitor = janitor
        self._running: dict[str, int] = {}  # scope -> requests in flight (max_concurrent)

    def start(self) -> None:
        self.cache.start()
        if self._janitor is not None:
            self._janitor.start()

    async def stop(self) -> None:
        if self._janitor is not None:
            await self._janitor.stop()
        await self.cache.stop()

    def in_flight(self, scope: str) -> int:
        """Requests of ``scope`` running on this node (its ``max_concurrent`` count)."""
        return self._running.get(scope, 0)

    async def admit(self, exchange: Exchange, route: Route,
                    body: dict[str, Any]) -> Admitted | None:
        """Reserve what ``body`` may use (None: nothing limits it); raise a 429 or 503."""
        key = exchange.key
        assert key is not None
        entry = exchange.gateway.catalog.get(route.provider_key)
        # ``limits`` of a provider section (absent from older configurations).
        provider_limits = getattr(entry.section, "limits", None) if entry else None
        found = limits_of(key, route.provider_key, provider_limits, exchange.policy)
        if not found:
            return None
        windowed = [limit for limit, _, _ in found if limit is not None]
        dims = {dimension(limit.name)[0] for limit in windowed}
        policy = exchange.policy
        output = 0
        if dims & {"output", "usd"}:
            config = route.provider.config
            ceiling = min(filter(None, (policy.max_output_tokens, config.max_tokens)))
            body = with_output_limit(exchange.spec, body, ceiling)
            output = min(filter(None, (exchange.spec.output_limit(body),
                                       config.max_output_tokens))) or ceiling
        entering = len(dims & {"input", "usd"}) > 0
        tokens_in = input_bound(body) if entering else 0
        usd = 0
        if "usd" in dims:
            price = exchange.gateway.prices.bound(route.provider_key, route.model, tokens_in,
                                                  output, policy.price_multiplier,
                                                  required=True)
            usd = math.ceil(price * USD_UNIT)
        units = {"requests": 1, "input": tokens_in, "output": output, "usd": usd}
        needs = [(limit, units[dimension(limit.name)[0]]) for limit in windowed]
        concurrent = self._enter(key, found)
        try:
            got = await self.cache.acquire(needs) if needs else Reservation(())
        except BaseException:
            self._leave(concurrent)
            raise
        if isinstance(got, Refusal):
            self._leave(concurrent)
            raise self._refused(key, got, windowed)
        return Admitted(body, got, concurrent, route.provider_key, route.model,
                        policy.price_multiplier, self.headers(windowed))

    def settle(self, admitted: Admitted | None, usage: Usage | None,
               prices: PriceBook) -> None:
        """Refund what was not used (``usage`` None: unknown, the reservation stands)."""
        if admitted is None or admitted.settled:
            return
        admitted.settled = True
        self._leave(admitted.concurrent)
        reservation = admitted.reservation
        if reservation is None or not reservation.holds:
            return
        if usage is None:
            self.cache.settle(reservation, None)
            return
        used = []
        for hold in reservation.holds:
            dim = dimension(hold.limit.name)[0]
            if dim == "usd":
                cost = prices.cost(admitted.provider_key, admitted.model, usage,
                                   admitted.multiplier)
                used.append(math.ceil(cost * USD_UNIT))
            else:
                used.append({"requests": 1, "input": input_used(usage),
                             "output": usage.output_tokens}[dim])
        self.cache.settle(reservation, used)

    def headers(self, limits: list[Limit]) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*`` for the tightest request and token limits."""
        out: dict[str, str] = {}
        for kind, dims in (("requests", {"requests"}), ("tokens", {"input", "output"})):
            best: tuple[int, int, float] | None = None
            for limit in limits:
                if dimension(limit.name)[0] not in dims:
                    continue
                seen = self.cache.view(limit)
                if seen is not None and (best is None or seen[1] < best[1]):
                    best = (limit.cap, seen[1], seen[2])
            if best is not None:
                out[f"x-ratelimit-limit-{kind}"] = str(best[0])
                out[f"x-ratelimit-remaining-{kind}"] = str(best[1])
                out[f"x-ratelimit-reset-{kind}"] = duration(best[2])
        return out

    # -- internals ------------------------------------------------------------------------

    def _enter(self, key: ApiKeyRecord,
               found: list[tuple[Limit | None, str, int]]) -> tuple[str, ...]:
        taken: list[str] = []
        for limit, scope, cap in found:
            if limit is not None:
                continue
            if self._running.get(scope, 0) >= cap // self._replicas:
                self._leave(tuple(taken))
                self._metrics.rate_limited(key.name, _label(scope, "max_concurrent"))
                raise LimitExceeded(
                    f"Too many requests at once: {_whose(key, scope)} max_concurrent {cap} "
                    f"({cap // self._replicas} on each of {self._replicas} nodes)",
                    code="rate_limit_exceeded", headers={"Retry-After": "1"})
            self._running[scope] = self._running.get(scope, 0) + 1
            taken.append(scope)
        return tuple(taken)

    def _leave(self, scopes: tuple[str, ...]) -> None:
        for scope in scopes:
            count = self._running[scope] - 1
            if count:
                self._running[scope] = count
            else:
                del self._running[scope]

    def _refused(self, key: ApiKeyRecord, refusal: Refusal,
                 limits: list[Limit]) -> LimitExceeded | Unavailable:
        limit = refusal.limit
        dim = dimension(limit.name)[0]
        cap = limit.cap / USD_UNIT if dim == "usd" else limit.cap
        named = f"{_whose(key, limit.scope)} {limit.name} {cap:g}"
        if refusal.unavailable:
            return Unavailable(f"The limits database is unavailable and this node's share of "
                               f"{named} is used up; try again shortly")
        label = _label(limit.scope, limit.name)
        if dim == "usd":
            self._metrics.quota_exceeded(key.name, label)
        else:
            self._metrics.rate_limited(key.name, label)
        headers = {"Retry-After": str(math.ceil(refusal.retry_after)), **self.headers(limits)}
        if dim == "usd":
            return LimitExceeded(f"Budget spent: {named}", code="insufficient_quota",
                                 headers=headers)
        return LimitExceeded(f"Rate limit reached: {named}", code="rate_limit_exceeded",
                             headers=headers)


def _whose(key: ApiKeyRecord, scope: str) -> str:
    kind, _, name = scope.partition(":")
    return f"key '{key.name}'" if kind == "key" else f"provider '{name}'"


def _label(scope: str, name: str) -> str:
    kind, _, owner = scope.partition(":")
    return name if kind == "key" else f"{owner}/{name}"


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``250ms``, ``7s``, ``1m30s``, ``2h0m5s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
