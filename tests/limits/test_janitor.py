"""The quota janitor on the memory store: old windows go, live ones stay, failures pass."""

from __future__ import annotations

import asyncio
import random
import time

from node.limits import Janitor
from node.limits.janitor import KEEP
from store import LeaseAsk, StoreConfig, StoreUnavailable, open_store
from store.memory import MemoryStore

DAY = 86_400.0


async def _memory() -> MemoryStore:
    store = await open_store(StoreConfig(kind="memory"))
    assert isinstance(store, MemoryStore)
    return store


async def _used(store: MemoryStore) -> dict[str, int]:
    """Units granted so far in the current window of each test limit (``cap - left``)."""
    asks = [LeaseAsk("key:k", "requests_per_minute", "minute", 10, 0, 0),
            LeaseAsk("key:k", "usd_per_month", "month", 10, 0, 0)]
    return {lease.limit: 10 - lease.left for lease in await store.lease(asks)}


async def _grant(store: MemoryStore) -> None:
    await store.lease([LeaseAsk("key:k", "requests_per_minute", "minute", 10, 4, 1),
                       LeaseAsk("key:k", "usd_per_month", "month", 10, 4, 1)])


class FailingStore:
    """A store whose database is down: every sweep fails."""

    def __init__(self) -> None:
        self.calls = 0

    async def forget_quota_before(self, moment: float) -> int:
        self.calls += 1
        raise StoreUnavailable("the database is restarting")


async def test_a_sweep_keeps_live_windows_and_deletes_finished_ones() -> None:
    store = await _memory()
    await _grant(store)
    assert await Janitor(store).sweep() == 0  # both windows are live
    assert await _used(store) == {"requests_per_minute": 4, "usd_per_month": 4}
    # 32 days on, the month window has ended, but not KEEP ago: it is kept.
    month_later = Janitor(store, clock=lambda: time.time() + 32 * DAY)
    assert await month_later.sweep() == 0
    later = Janitor(store, clock=lambda: time.time() + KEEP + 32 * DAY)
    assert await later.sweep() == 2
    assert await _used(store) == {"requests_per_minute": 0, "usd_per_month": 0}


async def test_keep_outlasts_the_longest_window() -> None:
    assert KEEP >= 31 * DAY + DAY


async def test_a_failed_sweep_is_logged_and_the_next_one_runs() -> None:
    failing = FailingStore()
    janitor = Janitor(failing, every=0.01, rng=random.Random(1))
    assert await janitor.sweep() == 0  # not raised
    janitor.start()
    try:
        for _ in range(200):
            if failing.calls >= 3:
                break
            await asyncio.sleep(0.01)
        assert failing.calls >= 3  # the loop outlived its failures
    finally:
        await janitor.stop()
    calls = failing.calls
    await asyncio.sleep(0.05)
    assert failing.calls == calls  # stopped means stopped


async def test_the_background_sweep_empties_old_windows() -> None:
    store = await _memory()
    await _grant(store)
    janitor = Janitor(store, every=0.01, clock=lambda: time.time() + KEEP + 32 * DAY)
    janitor.start()
    try:
        for _ in range(200):
            if await _used(store) == {"requests_per_minute": 0, "usd_per_month": 0}:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the janitor never swept")
    finally:
        await janitor.stop()
