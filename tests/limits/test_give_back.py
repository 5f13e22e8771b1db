"""A node that gave back its idle units and needs them a moment later gets them: its lease
waits for its own give-back to land instead of reading "none left" from the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from node.limits import LeaseCache, Limit, Reservation
from store import Lease, LeaseAsk, QuotaLedger, Return
from tests.limits.harness import EPOCH, VirtualLoop


class SlowReturns:
    """The ledger with a quick lease and a slow give-back (a busy database)."""

    def __init__(self, loop: VirtualLoop) -> None:
        self.ledger = QuotaLedger()
        self._loop = loop

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        await asyncio.sleep(0.001)
        return self.ledger.lease_at(asks, EPOCH + 10 + self._loop.now)

    async def give_back(self, returns: Sequence[Return]) -> None:
        await asyncio.sleep(0.050)
        self.ledger.give_back(returns)


def test_units_given_back_idle_are_leased_again_after_they_land() -> None:
    loop = VirtualLoop()
    store = SlowReturns(loop)
    cache = LeaseCache(store, clock=lambda: loop.now)  # ticked by hand, not started
    limit = Limit("key:k", "requests_per_minute", "minute", 2)

    async def main() -> tuple[object, int]:
        piece = cache.slice(limit)
        assert isinstance(await cache.acquire([piece], [1]), Reservation)
        await asyncio.sleep(0.01)  # the renewal that followed brought more units
        assert piece.free == 1 and piece.left == 0  # this node holds the whole cap
        cache.tick()  # a request in this tick: not idle
        await asyncio.sleep(0.3)
        cache.tick()  # idle 0.3 s on a tight limit: its free units go back (slowly)
        assert piece.free == 0
        got = await cache.acquire([piece], [1])
        granted = store.ledger.granted("key:k", "requests_per_minute", EPOCH)
        await cache.stop()
        return got, granted

    got, granted = loop.run_until_complete(main())
    loop.close()
    assert isinstance(got, Reservation), got  # not a 429 under a cap of 2 with 1 used
    assert granted <= 2
