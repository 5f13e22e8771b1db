"""Usage accounting on every backend: concurrent flushes, unstorable records, outages."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from structlog.testing import capture_logs

from store import Store, StoreUnavailable, UsageRecord, UsageWriter
from store.errors import BadRecord
from store.usage import (
    ERROR_CHARS,
    KEY_ID_CHARS,
    LATEST,
    NAME_CHARS,
    REQUEST_ID_CHARS,
    storable,
)

from .conftest import Opener, StoreFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def usage(model: str = "gpt-4o", **changes: object) -> UsageRecord:
    values: dict[str, object] = {"at": NOW, "key_id": "k_1", "provider": "openai",
                                 "model": model, "input_tokens": 10, "output_tokens": 5,
                                 "status": 200, "latency_ms": 10.0}
    values.update(changes)
    return UsageRecord(**values)  # type: ignore[arg-type]


async def test_concurrent_flushes_store_every_record_once(store: Store) -> None:
    """Admin flushes racing the background flusher while records keep arriving."""
    writer = UsageWriter(store, interval=0.001, batch_size=7)
    writer.start()

    async def traffic() -> None:
        for i in range(300):
            writer.record(usage(f"m{i:03d}"))
            if i % 5 == 0:
                await asyncio.sleep(0)

    async def admin() -> None:
        for _ in range(40):
            await writer.flush()
            await asyncio.sleep(0)

    await asyncio.gather(traffic(), admin(), admin(), admin())
    await writer.close()
    rows = await store.usage_summary(since=None, until=None)
    assert [(r["model"], r["requests"]) for r in rows] == [(f"m{i:03d}", 1) for i in range(300)]
    assert (writer.written, writer.failures, writer.dropped) == (300, 0, 0)


def test_storable_makes_every_value_fit() -> None:
    clean = usage()
    assert storable(clean) is clean
    fixed = storable(usage(("a\x00b\x07" * 100) + "\ud800", key_id="k" * 100,
                           provider="p\n" * 150, input_tokens=-3, output_tokens=2**70,
                           cache_read_tokens=-1, status=2**40, latency_ms=float("nan"),
                           at=datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))))
    assert fixed.model == "ab" * 100 and len(fixed.model) == NAME_CHARS
    assert fixed.key_id == "k" * KEY_ID_CHARS and fixed.provider == "p" * 150
    assert (fixed.input_tokens, fixed.output_tokens, fixed.cache_read_tokens) == (0, 2**63 - 1, 0)
    assert (fixed.status, fixed.latency_ms, fixed.at) == (2**31 - 1, 0.0, LATEST)
    assert storable(usage(latency_ms=float("inf"))).latency_ms == 0.0
    assert storable(usage(latency_ms=-5.0)).latency_ms == 0.0
    priced = usage(cost_usd=0.0123)
    assert storable(priced) is priced
    for cost in (float("nan"), float("inf"), -0.5):
        assert storable(usage(cost_usd=cost)).cost_usd == 0.0


async def test_a_long_model_with_nul_is_stored_cut_and_blocks_nothing(store: Store) -> None:
    """The public path: the writer makes the record storable before the database sees it."""
    writer = UsageWriter(store, interval=60.0, batch_size=4)
    for i in range(5):
        writer.record(usage(f"m{i}"))
    writer.record(usage("x\x00" * 150, key_id="k_2"))
    for i in range(5, 10):
        writer.record(usage(f"m{i}"))
    await writer.close()
    rows = await store.usage_summary(since=None, until=None)
    assert sorted(r["model"] for r in rows) == [f"m{i}" for i in range(10)] + ["x" * 150]
    assert (writer.written, writer.rejected, writer.failures) == (11, 0, 0)


def _poisoned(kind: str) -> list[UsageRecord]:
    """Records no SQL backend of ``kind`` takes, bypassing storable()."""
    both = [usage(input_tokens=2**70), usage("bad \ud800 surrogate")]
    if kind == "postgres":
        return [*both, usage("x\x00" * 150), usage("y" * 201), usage(status=2**40)]
    return [*both, usage(latency_ms=float("nan"))]


async def test_the_sql_store_refuses_bad_data_as_bad_record(opener: Opener,
                                                             sql_config_for: StoreFactory) -> None:
    """Written straight to the store (no storable()): a data error, not an outage."""
    config = sql_config_for()
    opened = await opener(config)
    for bad in _poisoned(config.kind):
        with pytest.raises(BadRecord) as caught:
            await opened.add_usage([usage("good"), bad])
        assert isinstance(caught.value, ValueError)
        assert not isinstance(caught.value, StoreUnavailable)
    assert await opened.usage_summary(since=None, until=None) == []  # all or nothing


class Poisoner:
    """A sink in front of a real store that turns records named "poison" into values no
    backend stores (as if storable() had been bypassed)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        await self.store.add_usage([
            dataclasses.replace(r, model="x\x00" * 150, input_tokens=2**70)
            if r.model == "poison" else r for r in records])


async def test_refused_records_are_set_aside_and_the_rest_written(store: Store) -> None:
    writer = UsageWriter(Poisoner(store), interval=60.0, batch_size=16)
    bad = {3, 17, 18, 39}
    for i in range(40):
        writer.record(usage("poison", key_id=f"k_{i}") if i in bad else usage(f"m{i:02d}"))
    with capture_logs() as logs:
        await writer.close()
    rows = await store.usage_summary(since=None, until=None)
    assert [r["model"] for r in rows] == [f"m{i:02d}" for i in range(40) if i not in bad]
    assert (writer.written, writer.rejected, writer.failures) == (36, 4, 0)
    refused = [e for e in logs if e["log_level"] == "error"]
    assert sorted(e["key_id"] for e in refused) == sorted(f"k_{i}" for i in bad)
    assert all(len(e["model"]) <= 40 for e in refused)


class Outage:
    """A sink in front of a real store that is unavailable while ``down`` is set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = True

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        if self.down:
            raise StoreUnavailable("writing usage: the database is unavailable")
        await self.store.add_usage(records)


async def test_an_unavailable_store_keeps_the_batch_for_later(store: Store) -> None:
    sink = Outage(store)
    writer = UsageWriter(sink, interval=60.0, batch_size=4)
    for i in range(10):
        writer.record(usage(f"m{i}"))
    await writer.flush()
    assert (writer.written, writer.failures, writer.rejected) == (0, 1, 0)
    sink.down = False
    await writer.close()
    rows = await store.usage_summary(since=None, until=None)
    assert [(r["model"], r["requests"]) for r in rows] == [(f"m{i}", 1) for i in range(10)]
    assert writer.written == 10


def test_storable_limits_are_the_usage_column_sizes() -> None:
    from store.sql.tables import build_tables

    columns = build_tables("at_", "").usage.c
    assert (columns.key_id.type.length, columns.provider.type.length,
            columns.model.type.length, columns.request_id.type.length,
            columns.error.type.length) == (
                KEY_ID_CHARS, NAME_CHARS, NAME_CHARS, REQUEST_ID_CHARS, ERROR_CHARS)


async def test_the_request_detail_round_trips(store: Store) -> None:
    failed = usage("m1", status=502, request_id="req-failed", attempts=3, ttft_ms=None,
                   overhead_ms=0.75, error="upstream 'up' answered 500: boom")
    streamed = usage("m2", request_id="req-streamed", attempts=1, ttft_ms=12.3456,
                     overhead_ms=0.5, at=NOW + timedelta(seconds=1))
    plain = usage("m3", request_id="req-plain", at=NOW + timedelta(seconds=2))
    await store.add_usage([failed, streamed, plain])
    (row,) = await store.usage_log(request_id="req-failed")
    assert (row["status"], row["attempts"], row["ttft_ms"], row["overhead_ms"], row["error"]) == (
        502, 3, None, 0.75, "upstream 'up' answered 500: boom")
    (row,) = await store.usage_log(request_id="req-streamed")
    assert (row["attempts"], row["ttft_ms"], row["overhead_ms"], row["error"]) == (
        1, 12.346, 0.5, "")
    (row,) = await store.usage_log(request_id="req-plain")  # made without the detail
    assert (row["attempts"], row["ttft_ms"], row["overhead_ms"], row["error"]) == (
        None, None, None, "")


def test_storable_makes_the_request_detail_fit() -> None:
    clean = usage(ttft_ms=3.0, overhead_ms=0.2, attempts=2, error="upstream failed")
    assert storable(clean) is clean
    fixed = storable(usage(ttft_ms=float("nan"), overhead_ms=-1.0, attempts=-4,
                           error="bad\x00\n" + "e" * 1000))
    assert (fixed.ttft_ms, fixed.overhead_ms, fixed.attempts) == (None, None, 0)
    assert fixed.error == "bad" + "e" * (ERROR_CHARS - 3)
    assert storable(usage(attempts=2**40)).attempts == 2**31 - 1


async def test_the_log_finds_one_request_id_among_many(store: Store) -> None:
    await store.add_usage([usage(f"m{i}", request_id=f"req-{i:04d}", at=NOW + timedelta(
        seconds=i)) for i in range(300)])
    (row,) = await store.usage_log(request_id="req-0003")  # far below the newest 50
    assert (row["model"], row["request_id"]) == ("m3", "req-0003")
    assert await store.usage_log(request_id="req-0003", key_id="other") == []
    assert await store.usage_log(request_id="req-9999") == []
    assert [r["request_id"] for r in await store.usage_log(limit=2)] == ["req-0299", "req-0298"]
    cut = storable(usage(request_id="r\x00" * 200))
    assert cut.request_id == "r" * REQUEST_ID_CHARS


async def test_a_batch_larger_than_one_statement_is_written_whole(store: Store) -> None:
    """SQLite takes a batch as multi-row INSERTs of at most 500 rows (and of at most the
    parameters its build allows): 1,234 records cross two statement boundaries, every value
    of every row lands in its own column, and none is lost or written twice."""
    records = [usage(f"m{i % 7}", request_id=f"req-{i:04d}", at=NOW + timedelta(seconds=i),
                     input_tokens=i, output_tokens=2 * i, status=200 + i % 3,
                     latency_ms=i / 4, cost_usd=i / 1e6, ttft_ms=None if i % 2 else i / 8,
                     overhead_ms=i / 16, attempts=1 + i % 2, error="" if i % 5 else f"e{i}")
               for i in range(1234)]
    await store.add_usage(records)
    rows = await store.usage_log(limit=2000)
    assert len(rows) == 1234
    got = {row["request_id"]: row for row in rows}
    for i in (0, 1, 499, 500, 501, 999, 1000, 1233):
        row = got[f"req-{i:04d}"]
        assert (row["model"], row["input_tokens"], row["output_tokens"], row["status"],
                row["latency_ms"], row["ttft_ms"], row["overhead_ms"], row["attempts"],
                row["error"]) == (f"m{i % 7}", i, 2 * i, 200 + i % 3, round(i / 4, 3),
                                  None if i % 2 else round(i / 8, 3), round(i / 16, 3),
                                  1 + i % 2, "" if i % 5 else f"e{i}")
        assert row["cost_usd"] == pytest.approx(i / 1e6)
        assert row["at"].startswith((NOW + timedelta(seconds=i)).isoformat()[:19])
    summary = await store.usage_summary(since=None, until=None)
    assert sum(r["requests"] for r in summary) == 1234


class SlowAck:
    """A sink in front of a real store whose write commits, then takes a while to return
    (as a database round trip after COMMIT does) until ``ack`` is set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.committed = asyncio.Event()
        self.ack = asyncio.Event()

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        await self.store.add_usage(records)
        self.committed.set()
        await self.ack.wait()


async def test_a_flush_whose_caller_leaves_writes_its_batch_once(store: Store) -> None:
    sink = SlowAck(store)
    writer = UsageWriter(sink, interval=60.0, batch_size=10)
    for i in range(3):
        writer.record(usage(f"m{i}"))
    caller = asyncio.create_task(writer.flush())
    await asyncio.wait_for(sink.committed.wait(), 5)
    caller.cancel()  # an admin client leaving GET /usage after the COMMIT
    with pytest.raises(asyncio.CancelledError):
        await caller
    sink.ack.set()
    await writer.close()
    rows = await store.usage_summary(since=None, until=None)
    assert [(r["model"], r["requests"]) for r in rows] == [(f"m{i}", 1) for i in range(3)]
    assert writer.written == 3
