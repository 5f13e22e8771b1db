"""The pysyncobj bridge in this process: threads, the lock facade, quorum loss."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from cluster.errors import LockBusy, NoQuorum
from cluster.raft import AddressBook, RaftLocks, RaftNode

from .conftest import free_ports


async def _node(voters: list[str], wait: float = 3.0) -> tuple[RaftNode, RaftLocks]:
    raft = RaftNode(
        self_id=voters[0],
        voters=voters,
        password="pw",
        bind=voters[0],
        lock_ttl=4.0,
        holder="test",
        book=AddressBook(),
    )
    await raft.start()
    return raft, RaftLocks(raft, wait=wait)


@pytest.fixture
async def solo() -> AsyncIterator[tuple[RaftNode, RaftLocks]]:
    raft, locks = await _node([f"127.0.0.1:{free_ports(1)[0]}"])
    try:
        for _ in range(100):
            if raft.status()["leader"]:
                break
            await asyncio.sleep(0.05)
        yield raft, locks
    finally:
        await raft.stop()


async def test_threads_outlive_startup_and_end_on_stop() -> None:
    """Pitfall 6: built from a short-lived worker thread's caller, the tick thread stays alive."""
    before = set(threading.enumerate())
    raft, _ = await _node([f"127.0.0.1:{free_ports(1)[0]}"])
    await asyncio.to_thread(time.sleep, 0.05)  # unrelated executor work comes and goes
    await asyncio.sleep(0.5)
    assert raft.tick_thread_alive()
    started = time.monotonic()
    await raft.stop()
    assert time.monotonic() - started < 2.0
    leaked = {t for t in threading.enumerate() if t.is_alive()} - before
    assert not {t for t in leaked if not t.name.startswith("asyncio_")}, leaked


async def test_lock_exclusive_within_process(solo: tuple[RaftNode, RaftLocks]) -> None:
    """Pitfall 3: ReplLockManager is re-entrant per process; the facade is not."""
    _, locks = solo
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            async with locks.hold("rotation", lease=5):
                outcomes.append("held")
                await asyncio.sleep(0.2)
        except LockBusy:
            outcomes.append("busy")

    await asyncio.gather(attempt(), attempt(), attempt())
    assert sorted(outcomes) == ["busy", "busy", "held"]
    async with locks.hold("rotation", lease=5):  # released (and awaited) afterwards
        pass


async def test_lease_bounds_the_hold(solo: tuple[RaftNode, RaftLocks]) -> None:
    raft, locks = solo
    with capture_logs() as logs:
        async with locks.hold("long", lease=0.3):
            assert raft.raw_is_acquired("long")
            await asyncio.sleep(0.6)
            assert not raft.raw_is_acquired("long")
    assert locks.stats["lease_expired"] == 1
    assert {"event": "lock lease expired: released", "log_level": "warning",
            "lock": "long", "lease": 0.3} in logs


async def test_no_quorum_is_clear_and_bounded() -> None:
    ports = free_ports(3)
    raft, locks = await _node([f"127.0.0.1:{p}" for p in ports], wait=0.8)
    try:
        started = time.monotonic()
        with pytest.raises(NoQuorum, match="no quorum"):
            async with locks.hold("rotation", lease=5):
                pass
        assert 0.7 < time.monotonic() - started < 2.0
    finally:
        await raft.stop()
