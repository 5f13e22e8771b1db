"""A burst of concurrent requests on an empty slice gets the whole cap: the lease the burst
waits on asks for at least one request's need, not for all of theirs at once (which the
ledger denied outright, refusing every request of the burst to the window's end)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from node.limits import LeaseCache, Limit, Refusal, Reservation
from store import Lease, LeaseAsk, QuotaLedger, Return
from tests.limits.harness import EPOCH, VirtualLoop


class Ledger:
    """The ledger behind a database that answers in 2 ms."""

    def __init__(self, loop: VirtualLoop) -> None:
        self.ledger = QuotaLedger()
        self._loop = loop
        self.asks: list[LeaseAsk] = []

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        self.asks += asks
        await asyncio.sleep(0.002)
        return self.ledger.lease_at(asks, EPOCH + 10 + self._loop.now)

    async def give_back(self, returns: Sequence[Return]) -> None:
        self.ledger.give_back(returns)


def _burst(cap: int, needs: list[int]) -> tuple[list[Reservation | Refusal], Ledger]:
    loop = VirtualLoop()
    store = Ledger(loop)
    cache = LeaseCache(store, clock=lambda: loop.now)  # not ticked: the slow path alone
    limit = Limit("key:k", "input_tokens_per_minute", "minute", cap)

    async def main() -> list[Reservation | Refusal]:
        piece = cache.slice(limit)
        return list(await asyncio.gather(*(cache.acquire([piece], [n]) for n in needs)))

    got = loop.run_until_complete(main())
    loop.close()
    return got, store


def test_a_burst_of_80_on_a_cap_of_10_gets_exactly_10() -> None:
    got, store = _burst(10, [1] * 80)
    admitted = [g for g in got if isinstance(g, Reservation)]
    refused = [g for g in got if isinstance(g, Refusal)]
    assert len(admitted) == 10, [type(g).__name__ for g in got]
    assert len(refused) == 70 and not any(r.unavailable for r in refused)
    assert all(ask.minimum == 1 for ask in store.asks), store.asks


def test_a_burst_of_large_needs_gets_as_many_as_the_cap_holds() -> None:
    # A USD budget of 1000 micro-units and requests reserving 170 each: 5 fit (850).
    got, store = _burst(1000, [170] * 60)
    admitted = [g for g in got if isinstance(g, Reservation)]
    assert len(admitted) == 5, [type(g).__name__ for g in got]
    assert all(ask.minimum <= 170 for ask in store.asks), store.asks


def test_a_small_request_behind_a_large_one_is_not_held_to_the_large_need() -> None:
    # 950 can never fit beside the first 100; the two of 50 must not wait on it and fail.
    got, _ = _burst(1000, [100, 950, 50, 50])
    assert [isinstance(g, Reservation) for g in got] == [True, False, True, True], got


def test_a_burst_waits_for_the_units_another_holder_leaves_idle() -> None:
    """Two holders of one budget (two workers, or two nodes): A leased more than it used and
    went quiet; B's burst finds the ledger empty. A gives its idle units back within
    ``IDLE_RETURN`` and a tick, so B waits for them instead of refusing its burst with a
    Retry-After to the window's end while the cap still has room."""
    loop = VirtualLoop()
    store = Ledger(loop)
    a = LeaseCache(store, clock=lambda: loop.now)
    b = LeaseCache(store, clock=lambda: loop.now)
    limit = Limit("key:k", "usd_per_day", "day", 1000)

    async def main() -> tuple[int, list[Reservation | Refusal]]:
        a.start()
        b.start()
        for _ in range(3):  # A's demand makes its slices grow (several needs each)
            taken = await a.acquire([a.slice(limit)], [100])
            assert isinstance(taken, Reservation)
            a.settle(taken, (100,))
        held_by_a = a.slice(limit).free
        burst = await asyncio.gather(*(b.acquire([b.slice(limit)], [100]) for _ in range(12)))
        # The units left are spent, not idle: later requests are not held for them again.
        later = []
        for _ in range(3):
            started = loop.now
            refused = await b.acquire([b.slice(limit)], [100])
            later.append((isinstance(refused, Refusal), loop.now - started))
        a.abandon()
        b.abandon()
        return held_by_a, list(burst), later

    held_by_a, burst, later = loop.run_until_complete(main())
    loop.close()
    assert held_by_a >= 200, f"A holds {held_by_a}: too few idle units for this test"
    admitted = [g for g in burst if isinstance(g, Reservation)]
    assert len(admitted) == 7, [type(g).__name__ for g in burst]  # 1000 less A's 300
    assert all(refused and waited < 0.3 for refused, waited in later), later
