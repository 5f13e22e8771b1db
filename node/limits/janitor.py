"""The quota ledger's janitor: rows of long-finished windows are deleted, rarely.

Every window of every limit leaves one row behind (notes/limits.md section 2.2), so without a
sweep the ledger grows by a row per limit per minute forever. Each node runs a janitor every few
minutes (jittered, so a cluster started at once does not sweep at once) that deletes the rows
of windows which ended more than :data:`KEEP` ago. The longest window is a calendar month, so
no live window is ever touched. Deleting is idempotent: several nodes sweeping is only a
little extra work, never a conflict. It runs in its own task, never on the request path; a
failed sweep is logged and the next one tries again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from store import StoreError

__all__ = ["EVERY", "KEEP", "Forgets", "Janitor"]

log = structlog.get_logger("node.limits")

KEEP = 35 * 86_400.0
"""Seconds a finished window's row is kept: a month (the longest window) and some days."""

EVERY = 300.0
"""Mean seconds between sweeps (each wait is drawn from half to one and a half times this)."""


class Forgets(Protocol):
    """The store's janitor statement (every Store has it)."""

    async def forget_quota_before(self, moment: float) -> int: ...


class Janitor:
    """Sweeps the quota ledger every ``every`` seconds (jittered) once started."""

    def __init__(self, store: Forgets, *, every: float = EVERY,
                 clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self._store = store
        self._every = every
        self._clock = clock
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """Delete the rows of windows that ended before ``now - KEEP``; how many went (0 when
        the store failed: logged, not raised)."""
        try:
            gone = await self._store.forget_quota_before(self._clock() - KEEP)
        except StoreError as exc:
            log.warning("quota janitor failed; the next sweep tries again", error=str(exc))
            return 0
        if gone:
            log.info("quota janitor deleted old windows", rows=gone)
        return gone

    def start(self) -> None:
        """Start sweeping (on the running loop); the first sweep waits one interval."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self._every * self._rng.uniform(0.5, 1.5))
            await self.sweep()
