"""Quota leases: the database side of exact limits across replicas.

Every window of every limit (a key's ``requests_per_minute``, a provider's
``input_tokens_per_day``...) is one ledger row holding ``cap`` and ``granted``: the units handed
to nodes and not given back. A node leases a slice with one guarded update (``granted`` never
passes ``cap``), admits from memory, and gives back what it did not use; what a node never gives
back (it crashed, or a statement's outcome is unknown) stays counted until the window ends. So
the sum of what every node admits in a window never exceeds its cap, whatever fails.

Windows are calendar-aligned in the database's time (minute, hour, UTC day, UTC month); a lease
answers with the database's clock so a node can convert the window's end to its own monotonic
clock without trusting its wall clock (notes/limits.md section 2.5).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = ["Lease", "LeaseAsk", "Period", "QuotaLedger", "QuotaStore", "Return", "window_of"]

Period = Literal["minute", "hour", "day", "month"]


@dataclass(frozen=True, slots=True)
class LeaseAsk:
    """Ask for up to ``want`` units (at least ``minimum``, else none) of one limit's window.

    ``scope`` names whose limit it is (``key:<id>``, ``provider:<key>``); ``limit`` its name
    (``requests_per_minute``). ``cap`` is the limit as the node knows it: it becomes the row's
    cap, so a lowered limit applies to the current window without forgetting what was granted.
    ``ahead`` leases the window that contains ``now + ahead`` (pre-leasing the next one).
    """

    scope: str
    limit: str
    period: Period
    cap: int
    want: int
    minimum: int
    ahead: float = 0.0


@dataclass(frozen=True, slots=True)
class Lease:
    """What a lease got: ``granted`` units (0: denied) of the window ``[win_start, win_end)``
    (epoch seconds, database time), ``left`` in the window after it, and ``db_now``."""

    scope: str
    limit: str
    granted: int
    left: int
    win_start: float
    win_end: float
    db_now: float


@dataclass(frozen=True, slots=True)
class Return:
    """Unused units given back to one window (never to another)."""

    scope: str
    limit: str
    win_start: float
    units: int


class QuotaStore(Protocol):
    """The two statements of the protocol; every backend implements them."""

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        """Grant each ask in one transaction (in the order given); one Lease per ask.

        A grant is ``min(want, max(minimum, left // 2))`` and only if ``left >= minimum``:
        far from the cap slices are what was asked, near it they shrink geometrically.
        Raises StoreUnavailable when the outcome is unknown (the caller assumes nothing came).
        """
        ...

    async def give_back(self, returns: Sequence[Return]) -> None:
        """Lower ``granted`` by each return (never below 0). On error the units are lost:
        the caller must not retry (a retry after an unknown outcome could credit twice)."""
        ...


def window_of(period: Period, at: float) -> tuple[float, float]:
    """The calendar window of ``period`` containing epoch second ``at`` (UTC)."""
    if period == "minute":
        start = at - at % 60
        return start, start + 60
    if period == "hour":
        start = at - at % 3600
        return start, start + 3600
    if period == "day":
        start = at - at % 86400
        return start, start + 86400
    moment = datetime.fromtimestamp(at, UTC)
    first = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return first.timestamp(), first.timestamp() + days * 86400


def grant_size(cap: int, granted: int, want: int, minimum: int) -> int:
    """The one sizing rule every backend applies (0 when even ``minimum`` does not fit)."""
    left = cap - granted
    if left < max(minimum, 1):
        return 0
    return max(0, min(want, max(minimum, left // 2)))


class QuotaLedger:
    """The protocol's rows in memory: the memory store's implementation, and the reference
    the SQL statements are tested against. Single-threaded (one event loop), so each call is
    atomic."""

    def __init__(self) -> None:
        # (scope, limit, win_start) -> [cap, granted, win_end]
        self._rows: dict[tuple[str, str, float], list[float]] = {}

    def lease_at(self, asks: Sequence[LeaseAsk], now: float) -> list[Lease]:
        leases = []
        for ask in asks:
            start, end = window_of(ask.period, now + ask.ahead)
            row = self._rows.setdefault((ask.scope, ask.limit, start), [ask.cap, 0, end])
            row[0] = ask.cap
            granted = grant_size(ask.cap, int(row[1]), ask.want, ask.minimum)
            row[1] += granted
            leases.append(Lease(ask.scope, ask.limit, granted, int(row[0] - row[1]), start, end,
                                now))
        return leases

    def give_back(self, returns: Sequence[Return]) -> None:
        for back in returns:
            row = self._rows.get((back.scope, back.limit, back.win_start))
            if row is not None:
                row[1] = max(0, row[1] - back.units)

    def granted(self, scope: str, limit: str, win_start: float) -> int:
        row = self._rows.get((scope, limit, win_start))
        return int(row[1]) if row else 0

    def forget_before(self, moment: float) -> int:
        """Drop rows of windows that ended before ``moment`` (they can no longer matter);
        how many were dropped."""
        old = [k for k, row in self._rows.items() if row[2] < moment]
        for key in old:
            del self._rows[key]
        return len(old)
