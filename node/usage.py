"""Usage accounting off the request path: a bounded queue flushed to the store in batches.

``record()`` never awaits and never blocks: it appends to a deque. A background task writes a
batch every ``interval`` seconds (or sooner when ``batch`` records wait). ``aclose()`` flushes
everything that is left, so a clean shutdown loses nothing. When the store is down, batches
are kept (up to ``limit`` records, then the oldest are dropped and counted).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

import structlog

from store import Store as StoreProtocol
from store import StoreError, UsageRecord

log = structlog.get_logger("node.usage")


class UsageQueue:
    """Collects :class:`UsageRecord` s and writes them to the store in the background."""

    def __init__(
        self,
        store: StoreProtocol,
        *,
        interval: float = 2.0,
        batch: int = 500,
        limit: int = 100_000,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._store = store
        self._interval = interval
        self._batch = batch
        self._pending: collections.deque[UsageRecord] = collections.deque()
        self._limit = limit
        self._on_drop = on_drop
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-flush")

    def record(self, item: UsageRecord) -> None:
        if len(self._pending) >= self._limit:
            self._pending.popleft()
            if self._on_drop is not None:
                self._on_drop(1)
        self._pending.append(item)
        if len(self._pending) >= self._batch:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._pending)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued now; on a store error keep it for the next attempt."""
        while self._pending:
            count = min(len(self._pending), self._batch)
            batch = [self._pending[i] for i in range(count)]
            try:
                await self._store.add_usage(batch)
            except StoreError as exc:
                log.warning("usage flush failed; will retry", error=str(exc), pending=count)
                return
            for _ in range(count):
                self._pending.popleft()
            self.written += count

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
