"""Usage accounting on every backend: concurrent flushes, unstorable records, outages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from store import Store, UsageRecord, UsageWriter

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
