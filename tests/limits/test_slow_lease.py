"""A lease still on its way says nothing about the limit: a request waits for it (a slow
database, a key's first use under load) instead of being refused with a false 429, and a
database that never answers in time is a 503, not "limit reached"."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from node.limits import LeaseCache, Limit, Refusal, Reservation
from node.limits import cache as cache_module
from node.limits.admission import _number
from store import Lease, LeaseAsk, QuotaLedger, Return
from tests.limits.harness import EPOCH, VirtualLoop


class SlowLeases:
    """The ledger behind a database that takes ``delay`` seconds to answer a lease."""

    def __init__(self, loop: VirtualLoop, delay: float) -> None:
        self.ledger = QuotaLedger()
        self._loop = loop
        self.delay = delay

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        await asyncio.sleep(self.delay)
        return self.ledger.lease_at(asks, EPOCH + 10 + self._loop.now)

    async def give_back(self, returns: Sequence[Return]) -> None:
        self.ledger.give_back(returns)


def _first_use(delay: float) -> tuple[list[object], float]:
    loop = VirtualLoop()
    store = SlowLeases(loop, delay)
    cache = LeaseCache(store, clock=lambda: loop.now)
    limit = Limit("key:k", "requests_per_minute", "minute", 10_000_000)

    async def main() -> list[object]:
        piece = cache.slice(limit)
        got = await asyncio.gather(*(cache.acquire([piece], [1]) for _ in range(20)))
        await cache.stop()
        return list(got)

    got = loop.run_until_complete(main())
    loop.close()
    return got, loop.now


def test_a_first_lease_slower_than_the_slow_path_still_admits() -> None:
    got, _ = _first_use(0.6)  # more than the 250 ms slow-path budget
    assert all(isinstance(g, Reservation) for g in got), got


def test_a_database_that_never_answers_in_time_is_unavailable_not_a_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "PENDING", 1.0)
    got, waited = _first_use(30.0)
    assert all(isinstance(g, Refusal) and g.unavailable for g in got), got
    assert waited < 2.0


def test_caps_are_named_as_people_write_them() -> None:
    assert [_number(v) for v in (10_000_000, 60, 5.0, 0.25, 1e6)] == \
        ["10000000", "60", "5", "0.25", "1000000"]


def test_requests_at_a_window_end_wait_for_a_slow_pre_lease_of_the_next() -> None:
    loop = VirtualLoop()
    store = SlowLeases(loop, 0.001)
    cache = LeaseCache(store, clock=lambda: loop.now)  # ticked by hand, not started
    limit = Limit("key:k", "requests_per_minute", "minute", 10_000_000)

    async def main() -> list[object]:
        piece = cache.slice(limit)
        assert isinstance(await cache.acquire([piece], [1]), Reservation)
        window_end = piece.win_end - (EPOCH + 10)  # on the loop's clock
        await asyncio.sleep(window_end - 0.25 - loop.now)
        store.delay = 0.6  # the database slows down under load
        cache.tick()  # used recently, 0.25 s before the end: the next window is pre-leased
        await asyncio.sleep(0.3)  # past the slice's deadline; the pre-lease has not landed
        got = await asyncio.gather(*(cache.acquire([piece], [1]) for _ in range(20)))
        await cache.stop()
        return list(got)

    got = loop.run_until_complete(main())
    loop.close()
    assert all(isinstance(g, Reservation) for g in got), got
