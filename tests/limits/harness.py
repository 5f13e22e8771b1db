"""A deterministic world for the lease cache: virtual time, a faulty ledger, a ground truth.

:class:`VirtualLoop` is an asyncio loop whose clock only moves when every task waits: a
``sleep(2)`` costs no real time and the run is the same every time for the same seed.
:class:`FakeQuotaStore` is the ledger with the SQL statements' semantics plus injected latency,
failures before applying (nothing happened) and after applying (unknown outcome).
:class:`World` runs three real :class:`~node.limits.LeaseCache` nodes under simulated clients
and records every admission in a :class:`Truth` that the properties are checked against.
"""

from __future__ import annotations

import asyncio
import random
import selectors
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from node.limits import LeaseCache, Limit, Refusal, Reservation
from store import Lease, LeaseAsk, QuotaLedger, Return, StoreUnavailable, window_of

EPOCH = 1_800_000_000.0  # DB time at virtual 0: a minute boundary


class _Skip(selectors.SelectSelector):
    def __init__(self, loop: VirtualLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("the simulation waits for nothing: deadlock")
        self._loop.now += max(0.0, timeout)
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(selector=_Skip(self))

    def time(self) -> float:
        return self.now


@dataclass
class Faults:
    """Per-call probabilities and the latency range of the store."""

    fail_before: float = 0.0
    fail_after: float = 0.0
    latency: tuple[float, float] = (0.0005, 0.003)
    spike_at: float | None = None  # virtual second of a 2 s latency spike
    unguarded: bool = False  # a broken store: grants ignore the cap
    return_fail_after: float | None = None  # give-backs only (default: ``fail_after``)


class FakeQuotaStore:
    def __init__(self, loop: VirtualLoop, faults: Faults, rng: random.Random) -> None:
        self.ledger = QuotaLedger()
        self._loop, self._faults, self._rng = loop, faults, rng

    def db_now(self) -> float:
        return EPOCH + self._loop.now

    async def _delay(self) -> None:
        lo, hi = self._faults.latency
        spike = self._faults.spike_at
        extra = 2.0 if spike is not None and spike <= self._loop.now < spike + 2 else 0.0
        await asyncio.sleep(self._rng.uniform(lo, hi) + extra)

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        await self._delay()
        if self._rng.random() < self._faults.fail_before:
            raise StoreUnavailable("injected: before apply")
        if self._faults.unguarded:
            asks = [LeaseAsk(a.scope, a.limit, a.period, a.cap + a.want, a.want, a.minimum,
                             a.ahead) for a in asks]
        leases = self.ledger.lease_at(asks, self.db_now())
        await self._delay()
        if self._rng.random() < self._faults.fail_after:
            raise StoreUnavailable("injected: unknown outcome")
        return leases

    async def give_back(self, returns: Sequence[Return]) -> None:
        await self._delay()
        if self._rng.random() < self._faults.fail_before:
            raise StoreUnavailable("injected: before apply")
        self.ledger.give_back(returns)
        await self._delay()
        after = self._faults.return_fail_after
        if self._rng.random() < (self._faults.fail_after if after is None else after):
            raise StoreUnavailable("injected: unknown outcome")


@dataclass
class Truth:
    """What really happened: usage per (scope, limit, window of the admission's DB time)."""

    used: dict[tuple[str, str, float], int] = field(default_factory=lambda: defaultdict(int))
    held: dict[tuple[str, str, float], int] = field(default_factory=lambda: defaultdict(int))
    caps: dict[tuple[str, str, float], int] = field(default_factory=dict)
    mistagged: int = 0
    refused: int = 0
    admitted: int = 0
    broken: list[str] = field(default_factory=list)


class World:
    """Three nodes, clients per key, faults; ``cache_type`` may be a broken variant."""

    def __init__(self, loop: VirtualLoop, seed: int, faults: Faults,
                 cache_type: type[LeaseCache] = LeaseCache) -> None:
        self.loop, self.rng = loop, random.Random(seed)
        self.store = FakeQuotaStore(loop, faults, self.rng)
        self.cache_type = cache_type
        self.truth = Truth()
        self.caps = {"requests_per_minute": 120, "output_tokens_per_minute": 3000}
        self.nodes: list[LeaseCache | None] = [None, None, None]  # started by start()
        self.reserved: list[dict[tuple[str, str, float], int]] = [defaultdict(int)
                                                                  for _ in range(3)]
        self.paused: set[int] = set()
        self.spent: dict[tuple[str, str, float], int] = defaultdict(int)  # settled, by tag

    def start(self) -> None:
        """Start the three nodes (on the running virtual loop)."""
        self.nodes = [self._node() for _ in range(3)]

    def _node(self) -> LeaseCache:
        drift = 1 + self.rng.uniform(-200e-6, 200e-6)
        offset = self.rng.uniform(0, 1000)
        node = self.cache_type(self.store, clock=lambda: offset + self.loop.now * drift)
        node.start()
        return node

    def limits(self, key: str) -> list[Limit]:
        return [Limit(f"key:{key}", name, "minute", cap) for name, cap in self.caps.items()]

    def _record(self, limit: Limit, tag: float, units: int, book: str) -> None:
        true_start = window_of("minute", self.store.db_now())[0]
        where = (limit.scope, limit.name, true_start)
        self.truth.caps[where] = max(self.truth.caps.get(where, 0), limit.cap)
        if tag != true_start and book == "admit":
            self.truth.mistagged += 1

    async def client(self, key: str, mix: Sequence[float], rate: float, until: float) -> None:
        """One client: requests at ``rate`` per second on average (open loop) until then."""
        while self.loop.now < until:
            await asyncio.sleep(self.rng.expovariate(rate))
            if self.loop.now >= until:
                return
            index = self.rng.choices(range(3), weights=mix)[0]
            node = self.nodes[index]
            if node is None or index in self.paused:
                continue
            out = self.rng.randint(10, 60)
            limits = self.limits(key)
            got = await node.acquire([node.slice(limit) for limit in limits], [1, out])
            if isinstance(got, Refusal):
                self.truth.refused += 1
                continue
            await self._serve(index, node, got, out)

    async def _serve(self, index: int, node: LeaseCache, got: Reservation | Any,
                     out: int) -> None:
        self.truth.admitted += 1
        true_start = window_of("minute", self.store.db_now())[0]
        used = [1, self.rng.randint(0, out)]
        for hold, units in zip(got.holds, used, strict=True):
            self._record(hold.limit, hold.win_start, units, "admit")
            self.truth.used[(hold.limit.scope, hold.limit.name, true_start)] += units
            self.reserved[index][(hold.limit.scope, hold.limit.name, hold.win_start)] += \
                hold.units
        await asyncio.sleep(self.rng.uniform(0.05, 4.0))  # streams cross window ends
        if self.nodes[index] is not node:
            return  # the node died: its reservation is forfeited
        while index in self.paused:
            await asyncio.sleep(0.05)
        for hold, units in zip(got.holds, used, strict=True):
            row = (hold.limit.scope, hold.limit.name, hold.win_start)
            self.reserved[index][row] -= hold.units
            self.spent[row] += units
        node.settle(got, used)

    def check_held(self) -> None:
        """Nodes never hold units the ledger does not count (I2), per current window."""
        start = window_of("minute", self.store.db_now())[0]
        for key in ("a", "b"):
            for limit in self.limits(key):
                row = (limit.scope, limit.name, start)
                granted = self.store.ledger.granted(*row)
                outstanding = self.spent[row] + sum(r[row] for r in self.reserved)
                outstanding += sum(node.free_in(limit, start) for node in self.nodes
                                   if node is not None)
                if outstanding > granted:
                    self.truth.broken.append(f"{row}: nodes hold {outstanding} > {granted}")

    async def watch(self, until: float) -> None:
        while self.loop.now < until:
            await asyncio.sleep(0.05)
            self.check_held()

    async def kill(self, index: int, at: float, back: float | None) -> None:
        await asyncio.sleep(at)
        node = self.nodes[index]
        if node is not None:
            node.abandon()
            self.nodes[index] = None
        if back is not None:
            await asyncio.sleep(back)
            self.nodes[index] = self._node()

    async def pause(self, index: int, at: float, seconds: float) -> None:
        await asyncio.sleep(at)
        self.paused.add(index)
        await asyncio.sleep(seconds)
        self.paused.discard(index)

    async def lower(self, at: float, cap: int) -> None:
        await asyncio.sleep(at)
        self.caps["requests_per_minute"] = cap

    def over_cap(self) -> list[str]:
        """Every (scope, limit, window) whose usage passed its cap: must be empty."""
        return [f"{where}: {used} > {self.truth.caps[where]}"
                for where, used in self.truth.used.items() if used > self.truth.caps[where]]
