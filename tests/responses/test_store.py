"""The stored-responses contract on every backend (memory, SQLite, Postgres), and the
writer: a write returns once stored, batches concurrent ones, and gives up on what is over
the size cap or when the store fails, without raising into the request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from store import MAX_RESPONSE_BYTES, ResponseRecord, ResponseWriter, Store, StoreUnavailable


def record(rid: str, key: str = "k1", ttl: float = 60.0, body: bytes = b'{"a":1}'
           ) -> ResponseRecord:
    now = time.time()
    return ResponseRecord(rid, key, now, now + ttl, body)


async def test_put_get_delete_forget(store: Store) -> None:
    await store.put_responses([record("resp_a"), record("resp_b", "k2"),
                               record("resp_old", ttl=-10)])
    got = await store.get_response("resp_a")
    assert got is not None and got.key_id == "k1" and got.body == b'{"a":1}'
    assert await store.get_response("resp_missing") is None
    assert not await store.delete_response("resp_b", "k1")  # another key's: untouched
    assert await store.get_response("resp_b") is not None
    assert await store.delete_response("resp_b", "k2")
    assert await store.get_response("resp_b") is None
    assert await store.forget_responses_before(time.time()) == 1
    assert await store.get_response("resp_old") is None
    assert await store.get_response("resp_a") is not None
    await store.put_responses([record("resp_a", body=b'{"a":2}')])  # a retried write
    again = await store.get_response("resp_a")
    assert again is not None and again.body == b'{"a":2}'


async def test_items_are_found_per_key_newest_first(store: Store) -> None:
    now = time.time()
    older = ResponseRecord("resp_1", "k1", now - 5, now + 60, b'{"n":1}', ("msg_a", "fc_b"))
    newer = ResponseRecord("resp_2", "k1", now, now + 60, b'{"n":2}', ("msg_a", "msg_c"))
    await store.put_responses([older, newer,
                               ResponseRecord("resp_3", "k2", now, now + 60, b"{}", ("msg_z",))])
    found = await store.find_response_item("msg_a", "k1")
    assert found is not None and found.id == "resp_2"  # the newest holder
    found = await store.find_response_item("fc_b", "k1")
    assert found is not None and found.body == b'{"n":1}'
    assert await store.find_response_item("msg_z", "k1") is None  # another key's item
    assert await store.find_response_item("msg_nope", "k1") is None
    assert await store.delete_response("resp_2", "k1")
    found = await store.find_response_item("msg_a", "k1")
    assert found is not None and found.id == "resp_1"  # still held by the older one
    assert await store.find_response_item("msg_c", "k1") is None
    await store.put_responses([ResponseRecord("resp_1", "k1", now, now - 1, b"{}", ("x",))])
    assert await store.find_response_item("fc_b", "k1") is None  # a retried write replaces
    assert await store.forget_responses_before(time.time()) == 1
    assert await store.find_response_item("x", "k1") is None


async def test_an_id_another_key_holds_is_not_taken_over(store: Store) -> None:
    """An upstream that repeats response ids must not let one key's answer replace
    another's: the id stays with the key that stored it until it expires."""
    first = ResponseRecord("resp_dup", "k1", time.time(), time.time() + 60, b'{"k":1}',
                           ("msg_k1",))
    assert await store.put_responses([first]) == []
    second = ResponseRecord("resp_dup", "k2", time.time(), time.time() + 60, b'{"k":2}',
                            ("msg_k2",))
    fresh = record("resp_new", "k2")
    assert await store.put_responses([second, fresh]) == [second]
    got = await store.get_response("resp_dup")
    assert got is not None and got.key_id == "k1" and got.body == b'{"k":1}'
    assert await store.get_response("resp_new") is not None  # the rest of the batch landed
    found = await store.find_response_item("msg_k1", "k1")
    assert found is not None and found.id == "resp_dup"
    assert await store.find_response_item("msg_k2", "k2") is None


async def test_an_expired_id_and_a_batch_repeating_one(store: Store) -> None:
    await store.put_responses([record("resp_gone", "k1", ttl=-5)])
    assert await store.put_responses([record("resp_gone", "k2")]) == []  # expired: free
    got = await store.get_response("resp_gone")
    assert got is not None and got.key_id == "k2"
    # One batch holding an id twice (a retry queued beside the first write): the last wins.
    assert await store.put_responses([record("resp_twice", body=b'{"n":1}'),
                                      record("resp_twice", body=b'{"n":2}')]) == []
    got = await store.get_response("resp_twice")
    assert got is not None and got.body == b'{"n":2}'


async def test_big_bodies_round_trip(store: Store) -> None:
    body = b'{"t":"' + b"x" * 2_000_000 + b'"}'
    await store.put_responses([record("resp_big", body=body)])
    got = await store.get_response("resp_big")
    assert got is not None and got.body == body


class _Counting:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def put_responses(self, records: Sequence[ResponseRecord]) -> list[ResponseRecord]:
        await asyncio.sleep(0.01)
        if self.fail:
            raise StoreUnavailable("down")
        self.batches.append([r.id for r in records])
        return [r for r in records if r.key_id == "other"]  # as if another key held them

    async def forget_responses_before(self, moment: float) -> int:
        return 0


async def test_writer_batches_and_waits() -> None:
    sink = _Counting()
    writer = ResponseWriter(sink)
    writer.start()
    try:
        done = await asyncio.gather(*(writer.write(record(f"resp_{n}")) for n in range(20)))
    finally:
        await writer.close()
    assert all(done)
    assert sorted(i for batch in sink.batches for i in batch) == sorted(
        f"resp_{n}" for n in range(20))
    assert len(sink.batches) < 20  # concurrent writes share flushes


async def test_writer_refuses_oversize_and_survives_a_failing_store() -> None:
    sink = _Counting(fail=True)
    writer = ResponseWriter(sink)
    writer.start()
    try:
        assert not await writer.write(record("resp_x"))
        assert writer.failures == 1
        huge = record("resp_huge", body=b"x" * (MAX_RESPONSE_BYTES + 1))
        assert not await writer.write(huge)
        sink.fail = False
        assert await writer.write(record("resp_y"))
    finally:
        await writer.close()
    assert sink.batches == [["resp_y"]]


async def test_writer_reports_a_refused_record_as_not_stored() -> None:
    sink = _Counting()
    writer = ResponseWriter(sink)
    writer.start()
    try:
        refused, stored = await asyncio.gather(writer.write(record("resp_1", "other")),
                                               writer.write(record("resp_2")))
    finally:
        await writer.close()
    assert (refused, stored) == (False, True)
    assert writer.written == 1 and writer.failures == 0
