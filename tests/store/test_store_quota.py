"""The quota lease contract on every backend, held against the in-memory reference ledger."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from store import Lease, LeaseAsk, QuotaLedger, Return, Store
from store.quota import Period

RPM: tuple[str, Period] = ("requests_per_minute", "minute")
USD_MONTH: tuple[str, Period] = ("usd_per_month", "month")
TOKENS_DAY: tuple[str, Period] = ("input_tokens_per_day", "day")


def ask(cap: int, want: int, minimum: int = 1, *, scope: str = "key:k",
        limit: tuple[str, Period] = USD_MONTH, ahead: float = 0.0) -> LeaseAsk:
    return LeaseAsk(scope, limit[0], limit[1], cap, want, minimum, ahead)


async def one(store: Store, request: LeaseAsk) -> tuple[int, int]:
    """(granted, left) of a single ask."""
    (lease,) = await store.lease([request])
    return lease.granted, lease.left


async def test_grants_are_what_was_asked_far_from_the_cap_and_halve_near_it(
        store: Store) -> None:
    assert await one(store, ask(1000, 100)) == (100, 900)
    assert await one(store, ask(1000, 1000)) == (450, 450)  # half of what is left
    assert await one(store, ask(1000, 10, 10)) == (10, 440)
    assert await one(store, ask(1000, 1000, 300)) == (300, 140)  # the minimum beats the half
    assert await one(store, ask(1000, 1000)) == (70, 70)
    assert await one(store, ask(1000, 0)) == (0, 70)  # wanting nothing gets nothing
    # Units are micro-dollars: caps far beyond 32 bits.
    big = 10**12
    assert await one(store, ask(big, 4 * 10**11, scope="key:rich")) == (4 * 10**11, 6 * 10**11)


async def test_a_grant_is_denied_when_less_than_the_minimum_is_left(store: Store) -> None:
    assert await one(store, ask(10, 9, 9)) == (9, 1)
    assert await one(store, ask(10, 5, 2)) == (0, 1)
    assert await one(store, ask(10, 5, 1)) == (1, 0)  # the last unit goes one at a time
    assert await one(store, ask(10, 5, 0)) == (0, 0)  # nothing left: even minimum 0 is denied
    assert await one(store, ask(10, 5, 1)) == (0, 0)


async def test_a_changed_cap_applies_to_the_current_window_and_keeps_granted(
        store: Store) -> None:
    assert await one(store, ask(100, 60, 60)) == (60, 40)
    assert await one(store, ask(50, 10)) == (0, -10)  # lowered below what was granted
    assert await one(store, ask(200, 10)) == (10, 130)  # raised: what was granted still counts
    assert await one(store, ask(70, 1)) == (0, 0)


async def test_give_back_lowers_granted_never_below_zero(store: Store) -> None:
    (lease,) = await store.lease([ask(100, 40, 40)])
    back = Return(lease.scope, lease.limit, lease.win_start, 15)
    await store.give_back([back])
    assert await one(store, ask(100, 0)) == (0, 75)
    await store.give_back([Return(lease.scope, lease.limit, lease.win_start, 1000)])
    assert await one(store, ask(100, 0)) == (0, 100)
    # A return to a window with no row, or to another window, changes nothing.
    await store.give_back([Return(lease.scope, lease.limit, lease.win_start - 1, 5),
                           Return("key:other", lease.limit, lease.win_start, 5)])
    await store.give_back([])
    assert await one(store, ask(100, 0)) == (0, 100)
    assert await one(store, ask(100, 0, scope="key:other")) == (0, 100)


async def test_month_windows_are_calendar_months_in_database_time(store: Store) -> None:
    (lease,) = await store.lease([ask(500, 5)])
    now = datetime.fromtimestamp(lease.db_now, UTC)
    start = datetime.fromtimestamp(lease.win_start, UTC)
    end = datetime.fromtimestamp(lease.win_end, UTC)
    assert start == datetime(now.year, now.month, 1, tzinfo=UTC)
    assert (end.day, end.hour, end.minute) == (1, 0, 0) and end > now >= start
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == 1
    # ahead= leases the next month: a fresh row, starting where this one ends.
    (nxt,) = await store.lease([ask(500, 7, ahead=lease.win_end - lease.db_now + 1)])
    assert (nxt.win_start, nxt.granted, nxt.left) == (lease.win_end, 7, 493)
    assert datetime.fromtimestamp(nxt.win_end, UTC).day == 1


async def test_one_call_answers_each_ask_in_the_order_given(store: Store) -> None:
    asks = [ask(60, 10, limit=RPM, scope="key:z"), ask(60, 10, limit=RPM, ahead=60.0),
            ask(60, 10, limit=RPM), ask(100, 30, limit=TOKENS_DAY),
            ask(60, 10, limit=RPM, scope="key:a"), ask(60, 100, limit=RPM)]
    leases = await store.lease(asks)
    assert [(lease.scope, lease.limit) for lease in leases] == [(a.scope, a.limit) for a in asks]
    assert [(lease.granted, lease.left) for lease in leases] == [
        (10, 50), (10, 50), (10, 50), (30, 70), (10, 50), (25, 25)]
    assert len({lease.db_now for lease in leases}) == 1  # one transaction, one clock reading
    now, nxt = leases[2], leases[1]
    assert now.win_start <= now.db_now < now.win_end == nxt.win_start
    assert (nxt.win_end - nxt.win_start, now.win_start % 60) == (60, 0)
    day = leases[3]
    assert (day.win_end - day.win_start, day.win_start % 86400) == (86400, 0)
    assert await store.lease([]) == []


async def test_forgetting_old_windows(store: Store) -> None:
    minute, month, _ = await store.lease([
        ask(60, 6, limit=RPM), ask(100, 10), ask(60, 6, limit=RPM, ahead=60.0)])
    assert await store.forget_quota_before(minute.win_end) == 0  # ended at, not before
    assert await store.forget_quota_before(minute.win_end + 0.5) == 1
    assert await one(store, ask(100, 10)) == (10, 80)  # the month's row stays
    assert await store.forget_quota_before(month.win_end + 1) == 2
    assert await one(store, ask(100, 10)) == (10, 90)  # a fresh row


async def test_every_answer_matches_the_reference_ledger(store: Store) -> None:
    """A seeded random run of leases and returns, replayed on QuotaLedger at the database's
    clock reading: every lease must be the same, unit for unit."""
    rnd = random.Random(12)
    reference = QuotaLedger()
    seen: list[Lease] = []
    denied = 0
    caps = {(s, lim): rnd.choice([5, 60, 1000, 10**10]) for s in ("key:a", "provider:p")
            for lim in (RPM, USD_MONTH, TOKENS_DAY)}
    for step in range(120):
        if seen and rnd.random() < 0.3:
            picked = rnd.sample(seen, min(len(seen), rnd.randint(1, 3)))
            returns = [Return(x.scope, x.limit, x.win_start, rnd.randint(0, x.granted + 2))
                       for x in picked]
            await store.give_back(returns)
            reference.give_back(returns)
            continue
        asks = []
        for _ in range(rnd.randint(1, 4)):
            (scope, limit), cap = rnd.choice(sorted(caps.items()))
            if rnd.random() < 0.1:  # a limit changed mid-window
                cap = caps[scope, limit] = max(1, cap + rnd.randint(-cap // 2, cap // 2))
            asks.append(ask(cap, rnd.randint(0, cap), rnd.randint(0, max(cap // 3, 1)),
                            scope=scope, limit=limit, ahead=rnd.choice([0.0, 0.0, 61.0])))
        leases = await store.lease(asks)
        assert leases == reference.lease_at(asks, leases[0].db_now), f"step {step}: {asks}"
        seen += [x for x in leases if x.granted]
        denied += sum(not x.granted for x in leases)
    assert len(seen) > 50 and denied > 20  # the run went near the caps and past them
