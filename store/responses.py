"""Stored Responses-API answers: the record, and a batched writer a request can wait on.

A stored response is what a follow-up with ``previous_response_id`` needs on any node: the
whole conversation so far (``body``: JSON of the response object and its input items), the
gateway key that made it (no other key may read it) and when it expires (the retention).

Writes leave the request path through :class:`ResponseWriter`'s queue and background flush,
batched like usage; the exchange still awaits its own record's flush before the final event
goes to the client, because the client may send its follow-up to another replica the moment
it has that event. A flush that fails is logged and the waiters released: the answer is
never held back by the store (its follow-up then gets a 404).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from .errors import StoreError

__all__ = ["MAX_RESPONSE_BYTES", "RESPONSE_ID_CHARS", "ResponseRecord", "ResponseSink",
           "ResponseWriter", "claimable"]

log = structlog.get_logger("store.responses")

MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
"""The largest stored response (its JSON, history included); a bigger one is not kept."""
RESPONSE_ID_CHARS: Final = 128
"""Longest stored response or item id (the column sizes in store/sql/tables.py)."""
_PURGE_EVERY: Final = 600.0
"""Seconds between two deletions of expired responses by one node's writer."""


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """One stored response: ``body`` is JSON, ``created_at``/``expires_at`` epoch seconds;
    ``items`` the ids of the items it holds (input and output) that an ``item_reference``
    may name (only written: a read gives ``()``)."""

    id: str
    key_id: str
    created_at: float
    expires_at: float
    body: bytes
    items: tuple[str, ...] = ()


def claimable(records: Sequence[ResponseRecord], held: dict[str, str]
              ) -> tuple[list[ResponseRecord], list[ResponseRecord]]:
    """(records to write, records refused) given ``held``, the key holding each live id.

    Response ids come from the upstream: one that repeats them (a lying or broken server)
    must not let a key's answer replace another key's, so an id stays with the key that
    stored it first until it expires. Within a batch the last record of an id wins.
    """
    held = dict(held)
    keep: dict[str, ResponseRecord] = {}
    refused: list[ResponseRecord] = []
    for record in records:
        owner = held.setdefault(record.id, record.key_id)
        if owner == record.key_id:
            keep[record.id] = record
        else:
            refused.append(record)
    return list(keep.values()), refused


class ResponseSink(Protocol):
    """What the writer needs from a store (every Store satisfies it)."""

    async def put_responses(self, records: Sequence[ResponseRecord]
                            ) -> list[ResponseRecord]: ...

    async def forget_responses_before(self, moment: float) -> int: ...


class ResponseWriter:
    """Queues records, flushes them in batches; ``write`` returns once its record is stored
    (or its flush failed). ``start`` and ``close`` run the background task."""

    def __init__(self, sink: ResponseSink) -> None:
        self._sink = sink
        self._queue: list[tuple[ResponseRecord, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._purged = 0.0
        self.written = 0
        self.failures = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="response-writer")

    async def write(self, record: ResponseRecord) -> bool:
        """Store ``record`` with the next batch; True once stored, False if it failed or is
        too large (``MAX_RESPONSE_BYTES``)."""
        if len(record.body) > MAX_RESPONSE_BYTES or len(record.id) > RESPONSE_ID_CHARS:
            log.warning("response not stored: too large", response_id=record.id[:40],
                        size=len(record.body))
            return False
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((record, done))
        self._wake.set()
        if self._task is None:  # not started (a test's bare writer): flush inline
            await self._flush()
        return await asyncio.shield(done)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            if time.time() - self._purged > _PURGE_EVERY:
                await self.purge()

    async def purge(self) -> int:
        """Delete the expired responses of every node; how many went."""
        self._purged = time.time()
        try:
            return await self._sink.forget_responses_before(self._purged)
        except StoreError as exc:
            log.warning("expired responses not deleted", error=str(exc))
            return 0

    async def _flush(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        ok = True
        refused: set[int] = set()
        try:
            out = await self._sink.put_responses([record for record, _ in batch])
            refused = {id(record) for record in out}
            self.written += len(batch) - len(refused)
        except StoreError as exc:
            ok = False
            self.failures += 1
            log.warning("responses not stored", error=str(exc), count=len(batch))
        for record, done in batch:
            if id(record) in refused:
                log.warning("response not stored: the upstream repeated an id another key "
                            "holds", response_id=record.id[:40])
            if not done.done():
                done.set_result(ok and id(record) not in refused)

    async def close(self) -> None:
        """Flush what is queued, then stop."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()
