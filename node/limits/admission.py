"""The node's limits on the request path: what a request needs, admit or refuse, settle.

:class:`Limits` (one per node, owned by the Gateway) turns a key's limits and its provider's
into needs (requests 1, a provable input bound, the output limit the request carries upstream,
micro-USD priced from those bounds), takes them from the :class:`LeaseCache`, and refuses with
a 429 in the route's dialect naming the scope and the limit (503 when the slices ran out and
the database cannot be asked: never an unlimited pass). ``max_concurrent`` is not windowed, so
leases do not fit it: each node admits at most ``floor(cap / replicas)`` at once.

What limits a key at a provider is worked out once per version of both (a :class:`Plan`,
holding its limits' slices), so a request's admission is arithmetic on objects in hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from node.errors import LimitExceeded, Unavailable
from node.limits.cache import MARGIN, LeaseCache, Limit, Refusal, Reservation, Slice
from node.limits.janitor import Janitor
from node.limits.needs import dimension, input_bound, input_used, with_output_limit
from node.limits.policy import KeyPolicy, key_policy
from node.limits.prices import Prices, bound_of
from node.metrics import Metrics
from providers import Usage
from store import ApiKeyRecord

if TYPE_CHECKING:
    from node.catalog import Route
    from node.serve.exchange import Exchange

__all__ = ["USD_UNIT", "Admitted", "Limits", "Plan", "limits_of"]

CACHE_LIMIT: Final = 4096  # keys' policies and plans held; a key change replaces its own

USD_UNIT = 1_000_000
"""USD limits are kept in micro-USD: integers, like every other unit."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What limits one key at one provider's model, worked out once per version of the key
    and of the provider (a USD limit's prices differ per model).

    ``dims`` holds each windowed limit's dimension as an index into a request's units
    (requests, input, output, usd); the two header tuples are the limits OpenAI's
    ``x-ratelimit-*-requests`` and ``-tokens`` headers are chosen from."""

    windowed: tuple[Limit, ...]
    pieces: tuple[Slice, ...]  # each windowed limit's slice in the lease cache
    dims: tuple[int, ...]
    concurrent: tuple[tuple[str, int], ...]  # (scope, cap) of each max_concurrent
    input: bool  # the input bound is needed (an input or a USD limit)
    output: bool  # the request must carry an output limit (an output or a USD limit)
    request_limits: tuple[int, ...]  # indexes into ``windowed``
    token_limits: tuple[int, ...]
    # a request's units (requests, input, output, usd) -> its needs, one per ``dims``
    pick: Callable[[tuple[int, int, int, int]], tuple[int, ...]]
    rates: tuple[float, float] | None = None  # the bound's prices: set with a USD limit
    multiplier: float = 1.0


_REQUEST_HEADERS: Final = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                           "x-ratelimit-reset-requests")
_TOKEN_HEADERS: Final = ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
                         "x-ratelimit-reset-tokens")
_UNITS: Final = ("requests", "input", "output", "usd")  # the order of a request's units
_REQUESTS, _INPUT, _OUTPUT, _USD = range(4)


def plan_of(found: list[tuple[Limit | None, str, int]],
            slice_of: Callable[[Limit], Slice],
            rates_of: Callable[[], tuple[float, float] | None] = lambda: None,
            multiplier: float = 1.0) -> Plan:
    """``rates_of`` gives the bound's prices; it is asked only when a USD limit is found."""
    windowed = tuple(limit for limit, _, _ in found if limit is not None)
    dims = tuple(_UNITS.index(dimension(limit.name)[0]) for limit in windowed)
    used = set(dims)
    return Plan(
        # slice_of brings a changed cap to its slice (a lowered one gives back its free)
        windowed, tuple(map(slice_of, windowed)), dims,
        tuple((scope, cap) for limit, scope, cap in found if limit is None),
        input=bool(used & {_INPUT, _USD}), output=bool(used & {_OUTPUT, _USD}),
        request_limits=tuple(i for i, dim in enumerate(dims) if dim == _REQUESTS),
        token_limits=tuple(i for i, dim in enumerate(dims) if dim in (_INPUT, _OUTPUT)),
        pick=_picker(dims), rates=rates_of() if _USD in used else None,
        multiplier=multiplier)


def _picker(dims: tuple[int, ...]) -> Callable[[tuple[int, int, int, int]], tuple[int, ...]]:
    """``units -> tuple(units[d] for d in dims)``, as one C call (itemgetter of one index
    returns the item itself, not a tuple)."""
    if len(dims) == 1:
        only = dims[0]
        return lambda units: (units[only],)
    if not dims:
        return lambda units: ()
    return itemgetter(*dims)


@dataclass(slots=True)
class Admitted:
    """One admitted request: its (possibly output-limited) body and what it holds."""

    body: dict[str, Any]
    reservation: Reservation
    plan: Plan
    concurrent: tuple[str, ...]
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
        # Worked out once per version of a key (and of its provider's section): a record or
        # a section replaced by a change is a new object, so identity tells a stale entry.
        self._policies: dict[str, tuple[ApiKeyRecord, KeyPolicy]] = {}
        self._plans: dict[tuple[str, str, str], tuple[ApiKeyRecord, object, Plan]] = {}

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

    def policy(self, key: ApiKeyRecord) -> KeyPolicy:
        """The policy of ``key`` (read from its record once per version of it)."""
        known = self._policies.get(key.id)
        if known is not None and known[0] is key:
            return known[1]
        policy = key_policy(key)
        if len(self._policies) >= CACHE_LIMIT:
            self._policies.clear()
        self._policies[key.id] = (key, policy)
        return policy

    def plan(self, key: ApiKeyRecord, provider_key: str, model: str, section: object,
             prices: Prices) -> Plan:
        """The limits of ``key`` at ``provider_key`` (whose config section is ``section``)
        for ``model``: a USD limit's prices are part of the plan."""
        known = self._plans.get((key.id, provider_key, model))
        if known is not None and known[0] is key and known[1] is section:
            return known[2]
        # ``limits`` of a provider section (absent from older configurations).
        provider_limits = getattr(section, "limits", None)
        policy = self.policy(key)
        # A USD limit and no known price: a 400 now rather than a free pass (not cached).
        plan = plan_of(limits_of(key, provider_key, provider_limits, policy), self.cache.slice,
                       lambda: prices.bound_rates(provider_key, model, required=True),
                       policy.price_multiplier)
        if len(self._plans) >= CACHE_LIMIT:
            self._plans.clear()
        self._plans[(key.id, provider_key, model)] = (key, section, plan)
        return plan

    async def admit(self, exchange: Exchange, route: Route,
                    body: dict[str, Any]) -> Admitted | None:
        """Reserve what ``body`` may use (None: nothing limits it); raise a 429 or 503."""
        key = exchange.key
        assert key is not None
        gateway = exchange.gateway
        entry = gateway.catalog.get(route.provider_key)
        plan = self.plan(key, route.provider_key, route.model,
                         entry.section if entry is not None else None, gateway.prices)
        if not (plan.windowed or plan.concurrent):
            return None
        output = 0
        if plan.output:
            # The answer's bound: what the request asks, else the output limit it is sent
            # with, never above the key's cap or the provider's.
            config = route.provider.config
            ceiling = config.max_tokens
            cap = exchange.policy.max_output_tokens
            if cap and cap < ceiling:
                ceiling = cap
            output = exchange.spec.output_limit(body) or 0
            if not output or output > ceiling:
                body = with_output_limit(exchange.spec, body, ceiling)
                output = ceiling
            if config.max_output_tokens and config.max_output_tokens < output:
                output = config.max_output_tokens
        tokens_in = input_bound(body) if plan.input else 0
        rates = plan.rates
        usd = math.ceil(bound_of(rates, tokens_in, output, plan.multiplier) * USD_UNIT) \
            if rates is not None else 0
        needs = plan.pick((1, tokens_in, output, usd))
        concurrent = self._enter(key, plan.concurrent) if plan.concurrent else ()
        try:
            # admit() alone is the steady state; acquire() waits for renewals (slow path).
            taken = self.cache.admit(plan.pieces, needs)
            got = taken if isinstance(taken, Reservation) else await self.cache.acquire(
                plan.pieces, needs)
        except BaseException:
            self._leave(concurrent)
            raise
        if isinstance(got, Refusal):
            self._leave(concurrent)
            raise self._refused(key, got, plan)
        return Admitted(body, got, plan, concurrent, self.headers(plan, got.pieces))

    def settle(self, admitted: Admitted | None, usage: Usage | None,
               cost_usd: float = 0.0) -> None:
        """Refund what was not used (``usage`` None: unknown, the reservation stands);
        ``cost_usd`` is what ``usage`` cost, with the key's multiplier."""
        if admitted is None or admitted.settled:
            return
        admitted.settled = True
        self._leave(admitted.concurrent)
        reservation = admitted.reservation
        if not reservation.needs:
            return
        if usage is None:
            self.cache.settle(reservation, None)
            return
        self.cache.settle(reservation, admitted.plan.pick(
            (1, input_used(usage), usage.output_tokens, math.ceil(cost_usd * USD_UNIT))))

    def release(self, admitted: Admitted | None) -> None:
        """Give an admission back whole: its request failed before any output (a retry on
        another target reserves again there)."""
        if admitted is None or admitted.settled:
            return
        self.cache.settle(admitted.reservation, (0,) * len(admitted.reservation.needs))
        self.settle(admitted, None)  # leaves max_concurrent; the units went back above

    def headers(self, plan: Plan, pieces: tuple[Slice, ...] = ()) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*`` for the tightest request and token limits (from the
        slices a reservation came from, refreshed by it just now; else looked up)."""
        out: dict[str, str] = {}
        now = self.cache.now()
        for names, indexes in ((_REQUEST_HEADERS, plan.request_limits),
                               (_TOKEN_HEADERS, plan.token_limits)):
            best: Slice | None = None
            least = 0
            for i in indexes:
                piece = pieces[i] if pieces else self.cache.slice_seen(plan.windowed[i])
                if piece is None:
                    continue
                left = piece.left
                if left is None or now >= piece.deadline:
                    continue
                # what this node holds plus what the database had left (see LeaseCache.view)
                free = piece.free
                remaining = left + free if free > 0 else left
                if best is None or remaining < least:
                    best, least = piece, remaining
            if best is not None:
                cap = best.limit.cap
                out[names[0]] = spelled = str(cap)
                out[names[1]] = str(least) if least < cap else spelled
                out[names[2]] = duration(best.deadline + MARGIN - now)
        return out

    # -- internals ------------------------------------------------------------------------

    def _enter(self, key: ApiKeyRecord,
               concurrent: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
        taken: list[str] = []
        for scope, cap in concurrent:
            if self._running.get(scope, 0) >= cap // self._replicas:
                self._leave(tuple(taken))
                self._metrics.rate_limited(key.name, _label(scope, "max_concurrent"))
                raise LimitExceeded(
                    f"Too many requests at once: {_whose(key, scope)} max_concurrent {cap} "
                    f"({cap // self._replicas} in each of {self._replicas} serving processes)",
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
                 plan: Plan) -> LimitExceeded | Unavailable:
        limit = refusal.limit
        dim = dimension(limit.name)[0]
        cap = limit.cap / USD_UNIT if dim == "usd" else limit.cap
        named = f"{_whose(key, limit.scope)} {limit.name} {_number(cap)}"
        if refusal.unavailable:
            return Unavailable(f"The limits database is unavailable and this node's share of "
                               f"{named} is used up; try again shortly")
        label = _label(limit.scope, limit.name)
        if dim == "usd":
            self._metrics.quota_exceeded(key.name, label)
        else:
            self._metrics.rate_limited(key.name, label)
        headers = {"Retry-After": str(math.ceil(refusal.retry_after)), **self.headers(plan)}
        if dim == "usd":
            return LimitExceeded(f"Budget spent: {named}", code="insufficient_quota",
                                 headers=headers)
        return LimitExceeded(f"Rate limit reached: {named}", code="rate_limit_exceeded",
                             headers=headers)


def _number(value: float) -> str:
    """A cap as people write it: ``10000000``, ``5``, ``0.25`` (never ``1e+07``)."""
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _whose(key: ApiKeyRecord, scope: str) -> str:
    kind, _, name = scope.partition(":")
    return f"key '{key.name}'" if kind == "key" else f"provider '{name}'"


def _label(scope: str, name: str) -> str:
    kind, _, owner = scope.partition(":")
    return name if kind == "key" else f"{owner}/{name}"


def _spelled(whole: int) -> str:
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


_RESETS: Final = tuple(_spelled(whole) for whole in range(3601))
"""Every reset up to an hour, spelled once: two of these go out with each limited answer."""


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``250ms``, ``7s``, ``1m30s``, ``2h0m5s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    return _RESETS[whole] if whole <= 3600 else _spelled(whole)
