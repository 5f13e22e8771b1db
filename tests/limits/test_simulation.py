"""The deterministic 3-node simulation of notes/limits.md section 5.1.

Three real LeaseCache nodes on a virtual clock share one faulty ledger; 200 clients per key
send requests; a ground truth records each admission in the window of its DB time. The
properties: never over any cap (no tolerance), every admission inside its tagged window,
nodes never hold units the ledger does not count, zero 429s when demand stays under 0.8 of the
cap, near-full use when demand is above it. Broken variants must fail these properties.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.limits import LeaseCache, Refusal, Reservation, Slice
from store import Return, StoreUnavailable, window_of
from tests.limits.harness import EPOCH, Faults, VirtualLoop, World

KEYS = ("a", "b")
SECONDS = 150.0  # two and a half windows


def _run(world: World, *, rate: float, mix: Sequence[float] = (1, 1, 1),
         extra: Sequence[object] = (), seconds: float = SECONDS) -> World:
    async def main() -> None:
        world.start()
        clients = [world.client(key, mix, rate, seconds) for key in KEYS for _ in range(200)]
        await asyncio.gather(*clients, world.watch(seconds), *extra)  # type: ignore[arg-type]
        for node in world.nodes:
            if node is not None:
                await node.stop()

    world.loop.run_until_complete(main())
    return world


def _world(seed: int, faults: Faults | None = None,
           cache_type: type[LeaseCache] = LeaseCache) -> World:
    return World(VirtualLoop(), seed, faults or Faults(), cache_type)


def _close(world: World) -> None:
    world.loop.close()


def _violations(world: World) -> list[str]:
    return [*world.over_cap(), *world.truth.broken,
            *([f"{world.truth.mistagged} admissions outside their window"]
              if world.truth.mistagged else [])]


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), kill_at=st.floats(5, 140), back=st.none() | st.floats(1, 30),
       pause_at=st.floats(5, 140), errors=st.sampled_from([0.0, 0.05, 0.2]),
       spike=st.none() | st.floats(5, 140), lowered=st.none() | st.integers(30, 110),
       mix=st.sampled_from([(1, 1, 1), (90, 5, 5), (5, 5, 90)]))
def test_never_over_any_cap_under_faults(seed: int, kill_at: float, back: float | None,
                                         pause_at: float, errors: float, spike: float | None,
                                         lowered: int | None, mix: tuple[int, ...]) -> None:
    world = _world(seed, Faults(fail_before=errors, fail_after=errors, spike_at=spike))
    try:
        faults: list[object] = [world.kill(seed % 3, kill_at, back),
                                world.pause((seed + 1) % 3, pause_at, 3.0)]
        if lowered is not None:
            faults.append(world.lower(70.0, lowered))
        _run(world, rate=0.05, mix=mix, extra=faults)  # 200 x 0.05/s = 600/min: 5x the cap
        assert _violations(world) == []
        assert world.truth.admitted > 0
    finally:
        _close(world)


def test_zero_refusals_when_demand_stays_under_the_cap() -> None:
    world = _world(7)
    try:
        # 200 clients x 0.0035/s per key = 42 requests a minute for a cap of 120.
        _run(world, rate=0.0035, mix=(60, 30, 10))
        assert world.truth.refused == 0
        assert world.truth.admitted > 150
        assert _violations(world) == []
    finally:
        _close(world)


def test_no_refusals_at_window_ends_for_a_busy_key_far_under_its_cap() -> None:
    """A window's slice ends a little early (the deadline margin); the next one opens a
    little late. Requests in between wait for the next window, they are not refused."""
    world = _world(5, Faults(latency=(0.00001, 0.0001)))  # a store on the same host
    world.caps = {"requests_per_minute": 10_000_000, "output_tokens_per_minute": 10**10}
    try:
        # 2 x 200 clients, each a request about every 3 s (1 s apart, ~2 s served): about
        # 130 a second, one or two in each 10 ms gap, two window ends.
        _run(world, rate=1.0, mix=(60, 30, 10), seconds=125.0)
        assert world.truth.admitted > 15_000
        assert world.truth.refused == 0
        assert _violations(world) == []
    finally:
        _close(world)


def test_near_full_use_when_demand_exceeds_the_cap() -> None:
    world = _world(11)
    try:
        _run(world, rate=0.05)
        second = EPOCH + 60  # [60 s, 120 s): a complete window without faults
        for key in KEYS:
            used = world.truth.used[(f"key:{key}", "requests_per_minute", second)]
            assert 114 <= used <= 120, (key, used, dict(world.truth.used))
        assert _violations(world) == []
    finally:
        _close(world)


# -- the checker catches broken variants --------------------------------------------------

class NeverVoids(LeaseCache):
    """Keeps using a slice after its deadline."""

    def _expired(self, piece: Slice, now: float) -> bool:
        return False


class RetriesReturns(LeaseCache):
    """Retries a give-back whose outcome is unknown (it may credit twice)."""

    async def _send_back(self, returns: list[Return]) -> None:
        for _ in range(3):
            try:
                await self._store.give_back(returns)
                return
            except StoreUnavailable:
                continue


class RefundsAnyWindow(LeaseCache):
    """Credits a refund to whatever window the slice holds now."""

    def _refundable(self, piece: Slice, win_start: float, now: float) -> bool:
        return True


class CheckThenAct(LeaseCache):
    """The baseline others ship: read what is left, then charge it unguarded."""

    async def acquire(self, pieces: Sequence[Slice],
                      needs: Sequence[int]) -> Reservation | Refusal:
        store = self._store
        assert hasattr(store, "ledger") and hasattr(store, "db_now")
        start = window_of("minute", store.db_now())[0]
        for piece, units in zip(pieces, needs, strict=True):
            limit = piece.limit
            await asyncio.sleep(0.002)  # the read's round trip
            if limit.cap - store.ledger.granted(limit.scope, limit.name, start) < units:
                return Refusal(limit, 1.0)
        await asyncio.sleep(0.002)
        store.ledger.give_back([Return(piece.limit.scope, piece.limit.name, start, -units)
                                for piece, units in zip(pieces, needs, strict=True)])
        return Reservation(tuple(pieces), (start,) * len(needs), tuple(needs))

    def settle(self, reservation: Reservation, used: Sequence[int] | None) -> None:
        return


def _caught(cache_type: type[LeaseCache], faults: Faults, rate: float) -> list[str]:
    world = _world(3, faults, cache_type)
    try:
        _run(world, rate=rate, mix=(60, 30, 10), extra=[world.lower(90.0, 40)])
        return _violations(world)
    finally:
        _close(world)


def test_the_checker_catches_slices_used_past_their_deadline() -> None:
    assert _caught(NeverVoids, Faults(latency=(0.01, 0.05)), 0.01)


def test_the_checker_catches_a_return_retried_after_an_unknown_outcome() -> None:
    assert _caught(RetriesReturns, Faults(return_fail_after=0.3), 0.008)


def test_the_checker_catches_a_refund_credited_to_a_newer_window() -> None:
    assert _caught(RefundsAnyWindow, Faults(), 0.008)


def test_the_checker_catches_a_grant_without_its_guard() -> None:
    assert _caught(LeaseCache, Faults(unguarded=True), 0.05)


def test_the_checker_catches_check_then_act() -> None:
    assert _caught(CheckThenAct, Faults(), 0.05)


def test_the_unbroken_cache_passes_the_same_runs() -> None:
    for rate in (0.008, 0.05):
        assert _caught(LeaseCache, Faults(fail_after=0.3), rate) == []
    assert _caught(LeaseCache, Faults(return_fail_after=0.3), 0.008) == []
