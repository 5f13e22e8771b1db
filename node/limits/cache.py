"""The node side of quota leases: slices of each allowance, admitted from memory.

One :class:`LeaseCache` per node holds a *slice* per (scope, limit): units the database granted
this node for one window. Admission checks and subtracts every limit of a request in one
synchronous step (no ``await`` between check and act, so nothing else runs in between), all or
nothing. Renewals are asynchronous, single-flight per scope (one ``store.lease`` for every limit
of the scope that needs units) and start ahead of need; a background tick estimates demand
(rate, typical need, the low-water mark), returns surplus, gives back idle slices of tight
limits and pre-leases the next window just before it opens. A request at a window's very end
(its slice's deadline passed, the next window not open yet) waits for the next window rather
than being refused. Admission itself is a few additions per limit: it runs on every request.

Safety (never over a cap) rests on three rules from notes/limits.md section 2.3: a slice is
used only until a conservative local deadline (``t_send + (win_end - db_now) - margin``), a
refund goes only to the window it was reserved from, and whatever fails is forfeited (a lease
error: nothing came; a give-back error: the units are gone, never retried).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from store import Lease, LeaseAsk, Period, Return, StoreError

__all__ = ["MARGIN", "Hold", "LeaseCache", "Leases", "Limit", "Refusal", "Reservation",
           "Slice", "headroom"]

log = structlog.get_logger("node.limits")

MARGIN = 0.010  # deadline margin: covers 100 ppm clock drift over a minute
WAIT = 0.250  # slow-path budget (50 ms gave false 429s on a saturated box)
TICK = 0.100
IDLE_RETURN = 0.250  # a tight limit's idle slice goes back after this
PRE_LEASE = 0.3  # pre-lease the next window this long before the current one ends
AHEAD = 0.35
RECENT = 2.0  # only limits used this recently are pre-leased
MIN_SLICES = 4  # a slice is at least this many typical needs
CAP_SHARE = 100  # ... and at least this fraction of the cap
SURPLUS = 3  # free above this many wants is returned
LOW_WATER = 0.3  # seconds of demand below which a renewal starts ahead of need
BACKOFF_MIN, BACKOFF_MAX = 0.020, 1.0
MAX_ROUNDS = 16  # slow-path renewals per request (a bound; the wait is bounded in time too)
PENDING = 5.0  # how long a request waits on a lease already on its way to the database
# The slow path's budget while another holder has units of the window: its idle ones come
# back after IDLE_RETURN, at its next tick, and a round trip.
SHARED_WAIT = WAIT + IDLE_RETURN + 2 * TICK


class Leases(Protocol):
    """The two statements of the protocol (every Store has them)."""

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]: ...

    async def give_back(self, returns: Sequence[Return]) -> None: ...


def headroom(piece: Slice, now: float) -> tuple[int, int, float] | None:
    """(used bound, remaining, seconds to reset) of a refreshed slice (see ``view``)."""
    left = piece.left
    if left is None or now >= piece.deadline:
        return None
    cap, free = piece.limit.cap, piece.free
    if free < 0:
        free = 0
    used = cap - left - free
    used = 0 if used < 0 else cap if used > cap else used
    remaining = free + left
    if remaining > cap - used:
        remaining = cap - used
    return used, 0 if remaining < 0 else remaining, piece.deadline + MARGIN - now


def target_seconds(period: Period) -> float:
    """How many seconds of demand a slice is sized for (short for long budgets: a crashed
    node's slice of a day or month stays lost until the window ends)."""
    return 2.0 if period in ("day", "month") else 10.0


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit as enforced: whose (``key:<id>``, ``provider:<key>``), which, and its cap."""

    scope: str
    name: str
    period: Period
    cap: int


@dataclass(frozen=True, slots=True)
class Hold:
    """Units of one limit reserved from the window starting at ``win_start``."""

    limit: Limit
    win_start: float
    units: int


@dataclass(slots=True)  # not frozen: built on every request (a frozen __init__ costs 6x)
class Reservation:
    """What one admission reserved: ``needs[i]`` units from slice ``pieces[i]``, from the
    window that started at ``starts[i]``. Parallel tuples rather than one object per limit:
    this is built on every request."""

    pieces: tuple[Slice, ...]
    starts: tuple[float, ...]
    needs: tuple[int, ...]

    @property
    def holds(self) -> tuple[Hold, ...]:
        return tuple(Hold(piece.limit, start, need)
                     for piece, start, need in zip(self.pieces, self.starts, self.needs,
                                                   strict=True))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was not admitted: ``limit`` ran out (retry in ``retry_after`` seconds),
    or ``unavailable``: the slices ran out and the database could not be asked."""

    limit: Limit
    retry_after: float
    unavailable: bool = False


@dataclass(slots=True)
class Window:
    """Units leased for one window, converted to local monotonic time."""

    win_start: float
    win_end: float
    opens: float
    deadline: float
    free: int
    left: int


@dataclass(slots=True)
class Slice:
    """One (scope, limit) on this node: the current window's units, and the next one's."""

    limit: Limit
    win_start: float = -1.0
    win_end: float = -1.0
    deadline: float = -math.inf
    free: int = 0
    held: int = 0  # units of this window on this node: granted minus given back
    left: int | None = None  # the database's ``cap - granted`` at the last lease
    # Demand, estimated at each tick rather than per request (admission stays a few adds):
    rate: float = 0.0  # EWMA, units per second
    typical: float = 0.0  # EWMA of the mean need per request (the first need until a tick)
    low_water: float = math.inf  # free below this starts a renewal: rate * LOW_WATER + typical
    used: int = 0  # units reserved since the last tick
    requests: int = 0  # reservations since the last tick
    last_use: float = -math.inf  # the last tick that saw a reservation
    denied_until: float = -math.inf
    backoff: float = BACKOFF_MIN
    parked: list[int] = field(default_factory=list)  # needs waiting on the slow path
    # A wait for another holder's units came up empty (its units are used, not idle): later
    # requests are not held for it again until a lease grants something.
    shared_spent: bool = False
    upcoming: Window | None = None

    def want(self) -> int:
        # At least a hundredth of the cap: a generous limit then costs a lease a window, not
        # one every few requests while the demand estimate warms up (a crash forfeits <= 1%).
        return math.ceil(max(self.rate * target_seconds(self.limit.period),
                             MIN_SLICES * self.typical, self.limit.cap / CAP_SHARE))


def _failed(task: asyncio.Task[bool]) -> bool:
    """A lease that has not answered, or answered with a store failure."""
    return not task.done() or task.cancelled() or task.exception() is not None \
        or not task.result()


class LeaseCache:
    """Admission from leased slices; see the module docstring. ``clock`` is monotonic."""

    def __init__(self, store: Leases, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._slices: dict[tuple[str, str], Slice] = {}
        self._renewals: dict[str, asyncio.Task[bool]] = {}
        self._ahead: dict[str, asyncio.Task[bool]] = {}  # scope -> its pre-lease
        self._tasks: set[asyncio.Task[Any]] = set()
        self._giving: set[asyncio.Task[Any]] = set()  # give-backs on their way to the store
        self._ticker: asyncio.Task[None] | None = None
        self._last_tick = clock()

    # -- admission ---------------------------------------------------------------------

    def admit(self, pieces: Sequence[Slice], needs: Sequence[int]) -> Reservation | Slice:
        """Reserve ``needs[i]`` units from each slice ``pieces[i]`` (see :meth:`slice`), or
        nothing: the first slice short otherwise. The steady-state request path: no await,
        no I/O, one pass (a shortfall puts back what this call took before it)."""
        now = self._clock()
        starts: list[float] = []
        for piece, need in zip(pieces, needs, strict=True):
            if piece.upcoming is not None or now >= piece.deadline:
                self._refresh(piece, now)  # (a no-op otherwise)
            free = piece.free - need
            if free < 0:
                for taken, units in zip(pieces, needs[:len(starts)], strict=False):
                    taken.free += units
                    taken.used -= units
                    taken.requests -= 1
                return piece
            piece.free = free
            piece.used += need
            piece.requests += 1
            if free < piece.low_water:  # (infinite until the slice's first use)
                if not piece.typical:  # the first use: renew ahead from now on
                    piece.typical = piece.low_water = need
                if free < piece.low_water:
                    self._renew(piece.limit.scope)
            starts.append(piece.win_start)
        return Reservation(tuple(pieces), tuple(starts), tuple(needs))

    async def acquire(self, pieces: Sequence[Slice],
                      needs: Sequence[int]) -> Reservation | Refusal:
        """:meth:`admit`, waiting up to 250 ms for renewals when a slice is short."""
        got = self.admit(pieces, needs)
        if isinstance(got, Reservation):
            return got
        started = self._clock()
        parked: list[tuple[Slice, int]] = []
        try:
            for _ in range(MAX_ROUNDS):
                piece = got
                now = self._clock()
                need = needs[pieces.index(piece)]
                shared = self._elsewhere(piece, need)
                give_up = started + (SHARED_WAIT if shared else WAIT)
                if now < piece.denied_until:
                    if not shared or give_up <= now:
                        if shared:  # waited for other holders' units in vain
                            piece.shared_spent = True
                        return Refusal(piece.limit, self._retry_after(piece, now))
                    # Denied just now, but another holder may give units back: ask again
                    # when the backoff ends.
                    await asyncio.sleep(min(piece.denied_until, give_up) - now)
                    now = self._clock()
                if not any(p is piece for p, _ in parked):
                    piece.parked.append(need)
                    parked.append((piece, need))
                if give_up <= now:
                    break
                if self._at_window_end(piece, now):
                    if not await self._next_window(piece, give_up):
                        return Refusal(piece.limit, 1.0, unavailable=True)
                else:
                    task = self._renew(piece.limit.scope)
                    await asyncio.wait({task}, timeout=give_up - now)
                    if task.done() and not task.result():
                        return Refusal(piece.limit, 1.0, unavailable=True)
                again = self.admit(pieces, needs)
                if isinstance(again, Reservation):
                    return again
                got = again
        finally:
            for piece, units in parked:
                piece.parked.remove(units)
        answer = await self._pending(pieces, needs, got, started)
        if isinstance(answer, Refusal) and self._elsewhere(got, needs[pieces.index(got)]):
            got.shared_spent = True
        return answer

    @staticmethod
    def _elsewhere(piece: Slice, need: int) -> bool:
        """Whether other holders (workers, nodes) were granted at least ``need`` units of
        the window, which may be idle and on their way back, unless a wait for them has
        already come up empty (see ``SHARED_WAIT``)."""
        left = piece.left
        return not piece.shared_spent and left is not None and \
            piece.limit.cap - left - piece.held >= need

    async def _pending(self, pieces: Sequence[Slice], needs: Sequence[int], got: Slice,
                       started: float) -> Reservation | Refusal:
        """The slow path ran out of time. A lease still on its way (a database slow under
        load, a key's first use, the next window's pre-lease) says nothing about the limit:
        wait for it, and for the next window to open, up to ``PENDING``; then answer
        "unavailable" (503) rather than "limit reached" (429)."""
        scope = got.limit.scope
        until = started + PENDING
        waiting = {task for task in (self._renewals.get(scope), self._ahead.get(scope))
                   if task is not None and not task.done()}
        if waiting:
            await asyncio.wait(waiting, timeout=max(0.0, until - self._clock()))
        upcoming = got.upcoming
        if upcoming is not None and upcoming.opens <= until:
            await asyncio.sleep(max(0.0, upcoming.opens - self._clock()))
        elif not waiting:
            return Refusal(got.limit, self._retry_after(got, self._clock()))
        again = self.admit(pieces, needs)
        if isinstance(again, Reservation):
            return again
        if any(_failed(task) for task in waiting):
            return Refusal(again.limit, 1.0, unavailable=True)
        return Refusal(again.limit, self._retry_after(again, self._clock()))

    def _at_window_end(self, piece: Slice, now: float) -> bool:
        """The slice's window just ended here, and the database may still be in it.

        Local deadlines end a window early (by the margin and the lease's round trip), so for
        a few milliseconds a renewal would lease the old window again, unusable. Such a
        request waits for the next window to open instead of being refused."""
        return piece.deadline <= now < piece.deadline + MARGIN + WAIT

    async def _next_window(self, piece: Slice, give_up: float) -> bool:
        """Pre-lease the next window of ``piece`` (if not yet) and sleep until it opens;
        False when the store failed."""
        if piece.upcoming is None:
            task = self._pre_lease(piece.limit.scope, {piece.limit.name})
            await asyncio.wait({task}, timeout=max(0.0, give_up - self._clock()))
            if task.done() and not task.result():
                return False
        upcoming = piece.upcoming
        if upcoming is not None:
            await asyncio.sleep(max(0.0, min(upcoming.opens, give_up) - self._clock()))
        return True

    def settle(self, reservation: Reservation, used: Sequence[int] | None) -> None:
        """Refund what each hold did not use (``used[i]`` for ``holds[i]``) into the same
        window's slice; nothing when usage is unknown (``None``): the reservation stands."""
        if used is None:
            return
        now = self._clock()
        for piece, start, need, spent in zip(reservation.pieces, reservation.starts,
                                             reservation.needs, used, strict=True):
            if spent != need and self._refundable(piece, start, now):
                piece.free += need - spent  # negative: debt, blocks until renewed

    def slice(self, limit: Limit) -> Slice:
        """The slice of ``limit`` (created empty); a lowered cap gives its free back."""
        key = (limit.scope, limit.name)
        piece = self._slices.get(key)
        if piece is None:
            piece = self._slices[key] = Slice(limit)
        elif piece.limit != limit:
            if limit.cap < piece.limit.cap and piece.free > 0:
                self._give([self._take(piece, piece.free)])
            piece.limit = limit
            piece.denied_until = -math.inf
        return piece

    def view(self, limit: Limit) -> tuple[int, int, float] | None:
        """(used bound, remaining, seconds to reset) of a live slice; None when it has none.

        ``used`` is the database's granted minus this node's free (others' free counts as
        used: this node cannot see it); ``remaining`` is this node's free plus what the
        database had left, so it never overstates what the cluster would admit."""
        piece = self.slice_seen(limit)
        return None if piece is None else headroom(piece, self._clock())

    def slice_seen(self, limit: Limit) -> Slice | None:
        """The slice of ``limit``, brought up to date; None when this node has none."""
        piece = self._slices.get((limit.scope, limit.name))
        if piece is not None:
            self._refresh(piece, self._clock())
        return piece

    def now(self) -> float:
        """This cache's clock (monotonic)."""
        return self._clock()

    def free_in(self, limit: Limit, win_start: float) -> int:
        """This node's free units of ``limit`` in the window starting at ``win_start``."""
        piece = self._slices.get((limit.scope, limit.name))
        if piece is None or piece.win_start != win_start or self._expired(piece, self._clock()):
            return 0
        return max(0, piece.free)

    # -- the seams the simulation's broken variants override ------------------------------

    def _expired(self, piece: Slice, now: float) -> bool:
        return now >= piece.deadline

    def _refundable(self, piece: Slice, win_start: float, now: float) -> bool:
        return piece.win_start == win_start and now < piece.deadline

    async def _send_back(self, returns: list[Return]) -> None:
        try:
            await self._store.give_back(returns)
        except StoreError as exc:
            # Unknown outcome: the units may be back already; a retry could credit twice.
            log.warning("quota give-back failed; the units are forfeited", error=str(exc))

    # -- slices over time ----------------------------------------------------------------

    def _refresh(self, piece: Slice, now: float) -> None:
        upcoming = piece.upcoming
        if upcoming is not None and now >= upcoming.opens:
            piece.upcoming = None
            piece.win_start, piece.win_end = upcoming.win_start, upcoming.win_end
            piece.deadline, piece.left = upcoming.deadline, upcoming.left
            piece.free = piece.held = upcoming.free
            piece.denied_until, piece.backoff = -math.inf, BACKOFF_MIN
            piece.shared_spent = False
        elif piece.held and self._expired(piece, now):
            piece.free = piece.held = 0  # the window is over: its units stay with it

    def _retry_after(self, piece: Slice, now: float) -> float:
        if now >= piece.deadline:
            return 1.0
        return max(1.0, float(math.ceil(piece.deadline + MARGIN - now)))

    def _renew(self, scope: str) -> asyncio.Task[bool]:
        task = self._renewals.get(scope)
        if task is None or task.done():
            task = self._renewals[scope] = self._spawn(self._lease(scope, 0.0, None))
        return task

    def _asks(self, scope: str, ahead: float, only: set[str] | None) -> list[LeaseAsk]:
        asks = []
        for (owner, name), piece in self._slices.items():
            if owner != scope or (only is not None and name not in only):
                continue
            want = piece.want()
            held = max(piece.free, 0)
            deficit = 0 if ahead or not piece.parked else max(0, sum(piece.parked) - held)
            # The least worth leasing is what lets one waiting request in, not all of them:
            # asking for the sum of a burst's needs as the minimum made the ledger deny the
            # lot (and every request a 429 to the window's end) while the cap still had room.
            least = 1 if ahead or not piece.parked else max(1, min(piece.parked) - held)
            if ahead:
                free = piece.upcoming.free if piece.upcoming else 0
            else:
                free = piece.free if not self._expired(piece, self._clock()) else 0
            ask = max(0, want - free) + deficit
            if ask > 0:
                limit = piece.limit
                asks.append(LeaseAsk(scope, name, limit.period, limit.cap, ask, least, ahead))
        return asks

    async def _lease(self, scope: str, ahead: float, only: set[str] | None) -> bool:
        """One round trip for the limits of ``scope``; False when the store failed."""
        if self._giving:
            # Units this node just gave back (idle, surplus) may be the very ones it now
            # needs: asked for before they land, the ledger would say "none left" and a
            # request would be refused under a cap not reached.
            await asyncio.wait(set(self._giving))
        asks = self._asks(scope, ahead, only)
        if not asks:
            return True
        sent = self._clock()
        try:
            leases = await self._store.lease(asks)
        except StoreError as exc:
            log.warning("quota lease failed; nothing was received", scope=scope,
                        error=str(exc))
            return False
        received = self._clock()
        for lease in leases:
            self._apply(lease, sent, received)
        return True

    def _pre_lease(self, scope: str, names: set[str]) -> asyncio.Task[bool]:
        """Lease the next window of ``names`` (single-flight per scope)."""
        task = self._ahead.get(scope)
        if task is None or task.done():
            task = self._ahead[scope] = self._spawn(self._lease(scope, AHEAD, names))
        return task

    def _apply(self, lease: Lease, sent: float, received: float) -> None:
        piece = self._slices.get((lease.scope, lease.limit))
        if piece is None:
            return
        # Early, never late: the database read its clock somewhere in [sent, received].
        deadline = sent + (lease.win_end - lease.db_now) - MARGIN
        if lease.win_start > lease.db_now:
            up = piece.upcoming
            opens = received + (lease.win_start - lease.db_now)  # late, never early
            if up is not None and up.win_start == lease.win_start:
                up.free += lease.granted
                up.left = lease.left
            elif lease.granted:
                piece.upcoming = Window(lease.win_start, lease.win_end, opens, deadline,
                                        lease.granted, lease.left)
            return
        if lease.granted:
            piece.shared_spent = False  # units came: another wait may pay off again
        if lease.win_start == piece.win_start:
            piece.free += lease.granted
            piece.held += lease.granted
            piece.deadline = max(piece.deadline, deadline)
        elif lease.win_start > piece.win_start:
            piece.win_start, piece.win_end, piece.deadline = (lease.win_start, lease.win_end,
                                                              deadline)
            piece.free = piece.held = lease.granted
            piece.denied_until, piece.backoff = -math.inf, BACKOFF_MIN
        else:
            return  # an older window's late answer: those units stay counted there
        piece.left = lease.left
        if lease.granted:
            piece.backoff = BACKOFF_MIN
        else:
            piece.denied_until = received + piece.backoff
            piece.backoff = min(BACKOFF_MAX, piece.backoff * 2)

    def tick(self) -> None:
        """Every 100 ms: demand rates, surplus and idle returns, pre-leases."""
        now = self._clock()
        elapsed, self._last_tick = now - self._last_tick, now
        decay = math.exp(-elapsed) if elapsed > 0 else 1.0
        returns: list[Return] = []
        ahead: dict[str, set[str]] = {}
        for (scope, name), piece in self._slices.items():
            self._refresh(piece, now)
            if elapsed > 0:
                piece.rate = piece.rate * decay + (1 - decay) * piece.used / elapsed
            if piece.requests:
                mean = piece.used / piece.requests
                piece.typical += (mean - piece.typical) * 0.5
                piece.last_use = now
            # infinite while unused: the first admission then learns its typical need
            piece.low_water = piece.rate * LOW_WATER + piece.typical if piece.typical \
                else math.inf
            piece.used = piece.requests = 0
            want = piece.want()
            live = not self._expired(piece, now)
            if live and piece.free > 0 and not piece.parked:
                tight = piece.left is not None and piece.left < MIN_SLICES * want
                if tight and now - piece.last_use >= IDLE_RETURN:
                    returns.append(self._take(piece, piece.free))
                elif piece.free > SURPLUS * want:
                    returns.append(self._take(piece, piece.free - want))
            if (live and piece.limit.period in ("minute", "hour") and piece.upcoming is None
                    and piece.deadline - now < PRE_LEASE and now - piece.last_use < RECENT):
                ahead.setdefault(scope, set()).add(name)
        if returns:
            self._give(returns)
        for scope, names in ahead.items():
            self._pre_lease(scope, names)

    def _take(self, piece: Slice, units: int) -> Return:
        piece.free -= units
        piece.held -= units
        return Return(piece.limit.scope, piece.limit.name, piece.win_start, units)

    def _give(self, returns: list[Return]) -> None:
        task = self._spawn(self._send_back(returns))
        self._giving.add(task)
        task.add_done_callback(self._giving.discard)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background tick (on the running loop)."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.tick()

    async def stop(self) -> None:
        """Graceful stop: every free unit of a live window goes back, in one statement."""
        self.abandon()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        now = self._clock()
        returns = [self._take(piece, piece.free) for piece in self._slices.values()
                   if piece.free > 0 and not self._expired(piece, now)]
        if returns:
            await self._send_back(returns)

    def abandon(self) -> None:
        """Stop ticking and renewing; whatever is held is forfeited (a crash does this)."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for task in (*self._renewals.values(), *self._ahead.values()):
            task.cancel()
