"""Usage aggregation shared by every backend, and a non-blocking batched usage writer."""

from __future__ import annotations

import asyncio
import contextlib
import math
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog

from .errors import BadRecord, StoreError
from .records import UsageRecord

GroupKey = tuple[str, str, str, str]

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
KEY_ID_CHARS = 64
"""Longest stored ``key_id`` (the column size in store/sql/tables.py)."""
NAME_CHARS = 200
"""Longest stored ``provider`` and ``model`` (the column sizes in store/sql/tables.py)."""
REQUEST_ID_CHARS = 128
"""Longest stored ``request_id`` (the column size in store/sql/tables.py)."""
ERROR_CHARS = 500
"""Longest stored ``error`` text (the column size in store/sql/tables.py)."""
_INT64 = 2**63 - 1
_INT32 = 2**31 - 1
_UNSTORABLE = frozenset({"Cc", "Cs"})  # control characters (NUL...), lone surrogates


class UsageSink(Protocol):
    """What a UsageWriter needs from a store (every Store satisfies it)."""

    async def add_usage(self, records: Sequence[UsageRecord]) -> None: ...


def utc(moment: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC already."""
    if moment.tzinfo is UTC:
        return moment  # what the gateway records: every usage row asks, no copy to make
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def day_of(moment: datetime) -> str:
    """The UTC calendar day of a moment, as ``YYYY-MM-DD``."""
    return utc(moment).date().isoformat()  # strftime costs several times more, per record


def _text(value: str, limit: int) -> str:
    if not value.isprintable():  # rare: the common case costs one C-level scan
        value = "".join(ch for ch in value if unicodedata.category(ch) not in _UNSTORABLE)
    return value[:limit]


def _count(value: int, limit: int = _INT64) -> int:
    return min(max(int(value), 0), limit)


def _moment(value: datetime) -> datetime:
    try:
        utc(value)
    except OverflowError:  # an offset pushes it past year 1 or 9999
        return LATEST if value.year > 1 else EARLIEST
    return value


def _clean(record: UsageRecord) -> bool:
    """True when ``storable`` would change nothing (checked without building a copy)."""
    key, provider, model = record.key_id, record.provider, record.model
    request_id = record.request_id
    return (len(key) <= KEY_ID_CHARS and len(provider) <= NAME_CHARS
            and len(model) <= NAME_CHARS and key.isprintable() and provider.isprintable()
            and model.isprintable() and len(request_id) <= REQUEST_ID_CHARS
            and request_id.isprintable()
            and 0 <= record.input_tokens <= _INT64 and 0 <= record.output_tokens <= _INT64
            and 0 <= record.cache_read_tokens <= _INT64
            and 0 <= record.cache_write_tokens <= _INT64 and 0 <= record.status <= _INT32
            and 0.0 <= record.latency_ms < math.inf and 0.0 <= record.cost_usd < math.inf
            and record.at.tzinfo is UTC and _fits(record.ttft_ms) and _fits(record.overhead_ms)
            and (record.attempts is None or 0 <= record.attempts <= _INT32)
            and (not record.error or (len(record.error) <= ERROR_CHARS
                                      and record.error.isprintable())))


def _fits(duration: float | None) -> bool:
    return duration is None or 0.0 <= duration < math.inf


def _duration(value: float | None) -> float | None:
    """A measured time as stored: one that is negative or not finite was not measured."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def storable(record: UsageRecord) -> UsageRecord:
    """The record with values every backend stores: control characters removed, strings cut
    to the column sizes, counts clamped into 0..the column maximum (negatives become 0), a
    latency or cost that is negative or not finite becomes 0, an out-of-range time is
    clamped; a time to first byte or an overhead that is negative or not finite becomes
    None (not measured)."""
    if _clean(record):
        return record  # the common case: one pass of cheap checks, no copy
    latency = float(record.latency_ms)
    cost = float(record.cost_usd)
    fixed = UsageRecord(
        at=_moment(record.at), key_id=_text(record.key_id, KEY_ID_CHARS),
        provider=_text(record.provider, NAME_CHARS), model=_text(record.model, NAME_CHARS),
        input_tokens=_count(record.input_tokens), output_tokens=_count(record.output_tokens),
        status=_count(record.status, _INT32),
        latency_ms=latency if math.isfinite(latency) and latency > 0 else 0.0,
        cache_read_tokens=_count(record.cache_read_tokens),
        cache_write_tokens=_count(record.cache_write_tokens),
        cost_usd=cost if math.isfinite(cost) and cost > 0 else 0.0,
        request_id=_text(record.request_id, REQUEST_ID_CHARS),
        ttft_ms=_duration(record.ttft_ms), overhead_ms=_duration(record.overhead_ms),
        attempts=None if record.attempts is None else _count(record.attempts, _INT32),
        error=_text(record.error, ERROR_CHARS))
    return record if fixed == record else fixed


COUNTED = ("requests", "input_tokens", "output_tokens", "cache_read_tokens",
           "cache_write_tokens", "errors", "cost_usd")
"""The summed columns of a summary row, in order (then the latency total); every sum is a
whole number but ``cost_usd``, US dollars rounded to 6 decimals (a micro-dollar)."""


def summary_row(group: GroupKey, sums: Sequence[float | Decimal],
                latency_total: float) -> dict[str, Any]:
    """One summary row in the shape every backend returns (``sums`` in ``COUNTED`` order)."""
    day, key_id, provider, model = group
    row: dict[str, Any] = {"day": day, "key_id": key_id, "provider": provider, "model": model}
    row.update(zip(COUNTED[:-1], (int(n) for n in sums[:-1]), strict=True))
    row["cost_usd"] = round(float(sums[-1]), 6)
    requests = row["requests"]
    row["avg_latency_ms"] = latency_total / requests if requests else 0.0
    return row


def summarise(records: Iterable[UsageRecord], *, since: datetime | None,
              until: datetime | None) -> list[dict[str, Any]]:
    """Aggregate per (day, key, provider, model); errors are statuses >= 400."""
    acc: dict[GroupKey, list[float]] = {}
    lo = utc(since) if since else None
    hi = utc(until) if until else None
    for rec in records:
        at = utc(rec.at)
        if (lo and at < lo) or (hi and at >= hi):
            continue
        row = acc.setdefault((day_of(at), rec.key_id, rec.provider, rec.model), [0.0] * 8)
        row[0] += 1
        row[1] += rec.input_tokens
        row[2] += rec.output_tokens
        row[3] += rec.cache_read_tokens
        row[4] += rec.cache_write_tokens
        row[5] += rec.status >= 400
        row[6] += rec.cost_usd
        row[7] += rec.latency_ms
    return [summary_row(g, v[:7], v[7]) for g, v in sorted(acc.items())]


def log_row(row_id: int, rec: UsageRecord) -> dict[str, Any]:
    """One usage record as ``usage_log`` returns it, in the shape every backend shares."""
    return {"id": row_id, "at": utc(rec.at).isoformat(), "key_id": rec.key_id,
            "provider": rec.provider, "model": rec.model, "status": rec.status,
            "latency_ms": round(rec.latency_ms, 3), "input_tokens": rec.input_tokens,
            "output_tokens": rec.output_tokens, "cache_read_tokens": rec.cache_read_tokens,
            "cache_write_tokens": rec.cache_write_tokens, "cost_usd": rec.cost_usd,
            "request_id": rec.request_id, "ttft_ms": _ms(rec.ttft_ms),
            "overhead_ms": _ms(rec.overhead_ms), "attempts": rec.attempts, "error": rec.error}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class UsageWriter:
    """Queue usage records and write them in batches in the background.

    :meth:`record` never blocks or raises: when the bounded queue is full the record is
    dropped and counted in :attr:`dropped`. A batch is written every ``interval`` seconds or
    as soon as ``batch_size`` records wait; :meth:`close` flushes everything still queued.
    A write that fails because the store is unavailable is retried with the next flush and
    counted in :attr:`failures`. Records are made :func:`storable` as they are queued; a batch
    the database still refuses for its data (BadRecord) is split until the refused records
    are found: the others are written, those are logged, set aside and counted in
    :attr:`rejected`, so one bad record never blocks the rest.

    One flush runs at a time (the background one and any caller of :meth:`flush` queue up on
    a lock), and records leave the queue only once written: records queued during a write
    land behind the batch being written, so none is lost or written twice.
    """

    def __init__(self, sink: UsageSink, *, interval: float = 2.0, batch_size: int = 500,
                 max_queue: int = 100_000) -> None:
        self._sink = sink
        self._interval = interval
        self._batch_size = batch_size
        self._max_queue = max_queue
        self._pending: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._flushes: set[asyncio.Future[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0
        self.failures = 0
        self.rejected = 0
        self.written = 0

    def start(self) -> None:
        """Start the background flusher on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, record: UsageRecord) -> None:
        """Queue one record (dropped and counted if the queue is full or closed)."""
        if self._closing or len(self._pending) >= self._max_queue:
            self.dropped += 1
            return
        self._pending.append(storable(record))
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write what is queued once any running flush ends; a failed batch stays queued.

        Records queued while this flush writes are left for the next one, so a caller
        waits for a bounded amount of work however fast records keep arriving. A caller
        cancelled meanwhile (an admin client that left) stops waiting, but the flush runs
        to its end: cut between a batch's commit and its leaving the queue, it would leave
        that batch to be written a second time.
        """
        flushing = asyncio.ensure_future(self._flush())
        # Held here so a flush whose caller left is not collected while it runs.
        self._flushes.add(flushing)
        flushing.add_done_callback(self._flushes.discard)
        await asyncio.shield(flushing)

    async def _flush(self) -> None:
        async with self._flushing:
            left = len(self._pending)
            while left > 0:
                count = min(left, self._batch_size)
                try:
                    await self._write_head(count)
                except StoreError:
                    self.failures += 1
                    return
                left -= count

    async def _write_head(self, count: int) -> None:
        # Only the lock holder takes records off the head and record() appends behind them,
        # so the head is still this batch once the write returns.
        batch = self._pending[:count]
        try:
            await self._sink.add_usage(batch)
        except BadRecord as exc:
            if count > 1:  # bisect: about 2*log2(count) writes find each refused record
                await self._write_head(count // 2)
                await self._write_head(count - count // 2)
                return
            del self._pending[:1]
            self._reject(batch[0], exc)
            return
        del self._pending[:count]
        self.written += count

    def _reject(self, record: UsageRecord, exc: BadRecord) -> None:
        self.rejected += 1
        # looked up here, not cached at import: a rare path, and the logging config may change
        structlog.get_logger("store.usage").error(
            "usage record refused by the store; set aside", key_id=record.key_id[:64],
            provider=record.provider[:40], model=record.model[:40], error=exc.message[:200])

    async def close(self) -> None:
        """Stop the flusher and write what is queued; records after close are dropped."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        # Stopped by a flag, not cancel(): a cancelled flush could lose its batch.
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()
