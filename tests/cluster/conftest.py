"""Fixtures for cluster tests: free loopback ports and real node processes (harness_node.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

HARNESS = Path(__file__).with_name("harness_node.py")
SECRET = "test-cluster-secret-0123456789"

# Cheap Argon2 for tests (production uses RFC 9106 low-memory: t=3, 64 MiB, p=4).
FAST = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
    "argon2_parallelism": 1,
    "lock_ttl": 4.0,
    "lock_wait": 3.0,
    "ping_interval": 0.3,
    "ack_timeout": 1.0,
    "reconcile_interval": 1.0,
    "dns_interval": 0.5,
    "bind_addr": "127.0.0.1",
    "security_key": SECRET,
}


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class NodeProc:
    """A harness process with request/response and an event log."""

    def __init__(self, name: str, spec: dict[str, Any], *, log: Path | None = None) -> None:
        self.name, self.spec, self.log = name, spec, log
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self._reader: asyncio.Task[None] | None = None
        self.stderr = b""

    async def start(self, ready_timeout: float = 20.0) -> None:
        self.events.clear()
        # The agent logs to stderr: kept in ``log`` when a test reads it, else discarded.
        with self.log.open("ab") if self.log else open(os.devnull, "wb") as stderr:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(HARNESS),
                json.dumps(self.spec),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        self._reader = asyncio.create_task(self._read())
        await self.wait_event(lambda e: e.get("event") == "ready", ready_timeout)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "id" in msg and msg["id"] in self._waiting:
                self._waiting.pop(msg["id"]).set_result(msg)
            else:
                self.events.append(msg)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(EOFError(f"{self.name} exited"))

    async def call(self, op: str, timeout: float = 30.0, **kwargs: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self._next += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = fut
        self.proc.stdin.write((json.dumps({"id": self._next, "op": op, **kwargs}) + "\n").encode())
        await self.proc.stdin.drain()
        return await asyncio.wait_for(fut, timeout)

    async def wait_event(self, pred: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if pred(event):
                    return event
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            await asyncio.sleep(0.01)
        raise TimeoutError(f"{self.name}: event not seen in {timeout}s")

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = (await self.call("status"))["status"]
        return status

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, sig)

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGCONT)
            await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2)


class Cluster:
    """N nodes on 127.0.0.1 with a static peer list (names n0..n{N-1})."""

    def __init__(self, n: int, *, members: int | None = None, **overrides: Any) -> None:
        total = members or n
        ports = free_ports(2 * total)
        self.peers = [f"n{i}=127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}" for i in range(total)]
        self.nodes: list[NodeProc] = []
        for i in range(total):
            config = {
                **FAST,
                "peers": self.peers,
                "port": ports[2 * i],
                "raft_port": ports[2 * i + 1],
                "replicas": n,
                **overrides,
            }
            self.nodes.append(NodeProc(f"n{i}", {"name": f"n{i}", "config": config}))

    async def start(self) -> None:
        await asyncio.gather(*(node.start() for node in self.nodes))

    async def leader(self, timeout: float = 15.0, among: list[NodeProc] | None = None) -> str:
        """Wait until every live node (or ``among``) reports the same leader and a quorum."""
        nodes = among or [n for n in self.nodes if n.proc and n.proc.returncode is None]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = await asyncio.gather(*(n.status() for n in nodes))
            leaders = {s["leader"] for s in states}
            if len(leaders) == 1 and None not in leaders and all(s["has_quorum"] for s in states):
                return str(leaders.pop())
            await asyncio.sleep(0.1)
        raise TimeoutError("no agreed leader")

    def node(self, name: str) -> NodeProc:
        return next(n for n in self.nodes if n.name == name)

    async def close(self) -> None:
        await asyncio.gather(*(n.kill() for n in self.nodes), return_exceptions=True)


@pytest.fixture
async def cluster3() -> AsyncIterator[Cluster]:
    cluster = Cluster(3)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.close()
