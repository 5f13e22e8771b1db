"""One ClusterAgent in its own process, driven over stdin/stdout with JSON lines.

Usage: ``python harness_node.py '<json>'`` with ``{"name": ..., "config": {ClusterConfig
fields}, "key_version": int}``. Requests are ``{"id": n, "op": ..., ...}``; each gets exactly one
``{"id": n, ...}`` answer. Unsolicited lines carry ``"event"`` (``ready``, ``raft``, ``change``),
each with ``t`` = ``time.time()`` so the controller can measure across processes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cluster import ClusterAgent, ClusterConfig, LockBusy, NoQuorum


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


class FakeHooks:
    """Records what the agent asks; key state is set by the controller."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.needs = False
        self.material: bytes | None = b"material-v%d" % version
        self.imported: list[str] = []
        self.hints: list[int] = []

    async def on_change(self, kind: str, item: str) -> None:
        emit({"event": "change", "kind": kind, "item": item, "t": time.time()})

    async def on_key_version(self, version: int) -> None:
        self.hints.append(version)

    def key_version(self) -> int:
        return self.version

    def needs_key_material(self) -> bool:
        return self.needs

    async def export_key_material(self) -> bytes | None:
        return self.material

    async def import_key_material(self, blob: bytes) -> None:
        self.imported.append(blob.decode())
        self.needs = False


class LagProbe:
    """Ticks every 5 ms and records how late each tick of the event loop was."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.lateness.append(loop.time() - before - 0.005)

    def summary(self) -> dict[str, float]:
        values = sorted(self.lateness) or [0.0]
        return {"max_lag_ms": values[-1] * 1000,
                "p99_lag_ms": values[int(len(values) * 0.99)] * 1000,
                "ticks": len(values)}

    def __enter__(self) -> LagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


class Controller:
    def __init__(self, agent: ClusterAgent, hooks: FakeHooks) -> None:
        self.agent, self.hooks = agent, hooks

    async def op_status(self, req: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": self.agent.status(),
            "hints": self.hooks.hints[-5:],
            "imported": self.hooks.imported,
        }

    async def op_lock(self, req: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        try:
            async with self.agent.lock(req["name"], lease=req.get("lease", 30.0)):
                acquired = time.time()
                ms = (time.monotonic() - started) * 1000
                await asyncio.sleep(req.get("hold", 0.0))
                released_at = time.time()
            return {
                "ok": True,
                "acquire_ms": ms,
                "t_acquired": acquired,
                "t_release_start": released_at,
                "t_released": time.time(),
            }
        except (LockBusy, NoQuorum) as exc:
            return {"ok": False, "error": type(exc).__name__, "message": str(exc)}

    async def op_gather_locks(self, req: dict[str, Any]) -> dict[str, Any]:
        results = await asyncio.gather(*(self.op_lock(req) for _ in range(req["n"])))
        return {
            "ok_count": sum(1 for r in results if r["ok"]),
            "errors": [r.get("error") for r in results if not r["ok"]],
        }

    async def op_lock_many(self, req: dict[str, Any]) -> dict[str, Any]:
        latencies: list[float] = []
        with LagProbe() as probe:
            for i in range(req["n"]):
                started = time.monotonic()
                async with self.agent.lock(req["name"]):
                    pass
                latencies.append((time.monotonic() - started) * 1000)
                if i % 10 == 0:
                    await self.agent.notify_change("probe", str(i))
        latencies.sort()
        return {"median_ms": latencies[len(latencies) // 2], "max_ms": latencies[-1],
                **probe.summary()}

    async def op_block(self, req: dict[str, Any]) -> dict[str, Any]:
        """Negative control for the lag probe: block the loop on purpose."""
        with LagProbe() as probe:
            await asyncio.sleep(0.02)
            time.sleep(req.get("seconds", 0.05))
            await asyncio.sleep(0.02)
        return probe.summary()

    async def op_ghost(self, req: dict[str, Any]) -> dict[str, Any]:
        """Submit an acquire and give up before any answer can arrive (an unknown outcome)."""
        locks = self.agent._locks
        raft = self.agent.raft
        assert locks is not None and raft is not None
        timed_out = False
        for _ in range(5):
            try:
                await locks.acquire(req["name"], wait=1e-6)
                await locks.release(req["name"])         # answered in time: try again
            except NoQuorum:
                timed_out = True
                break
        await asyncio.sleep(req.get("after", 1.0))
        return {"timed_out": timed_out, "held": raft.raw_is_acquired(req["name"])}

    async def op_notify(self, req: dict[str, Any]) -> dict[str, Any]:
        started = time.time()
        acks = await self.agent.notify_change(req["kind"], req["item"])
        return {"acks": acks, "t_sent": started, "elapsed_ms": (time.time() - started) * 1000}

    async def op_notify_key(self, req: dict[str, Any]) -> dict[str, Any]:
        return {
            "acks": await self.agent.notify_key(req["version"], prepared=req.get("prepared", False))
        }

    async def op_set_key(self, req: dict[str, Any]) -> dict[str, Any]:
        self.hooks.version = req.get("version", self.hooks.version)
        self.hooks.needs = req.get("needs", self.hooks.needs)
        if "material" in req:
            self.hooks.material = req["material"].encode()
        return {}

    async def op_raft_info(self, req: dict[str, Any]) -> dict[str, Any]:
        raft = self.agent.raft
        assert raft is not None
        await asyncio.sleep(req.get("after", 0.0))
        return {
            "password_set": bool(raft.conf.password),
            "use_fork": raft.conf.useFork,
            "batch": raft.conf.appendEntriesUseBatch,
            "fallback": raft.conf.leaderFallbackTimeout,
            "tick_alive": raft.tick_thread_alive(),
            "threads": [t.name for t in threading.enumerate()],
        }

    async def op_stop(self, req: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        await self.agent.stop()
        return {
            "stop_s": time.monotonic() - started,
            "threads": [t.name for t in threading.enumerate() if t.is_alive()],
        }


def _config_fields(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}


async def main() -> None:
    # stdout carries the protocol; the agent's log lines go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    spec = json.loads(sys.argv[1])
    hooks = FakeHooks(spec.get("key_version", 1))
    hooks.needs = spec.get("needs", False)          # restarted with a stale passphrase
    agent = ClusterAgent(
        ClusterConfig(**_config_fields(spec["config"])),
        hooks,
        node_name=spec["name"],
        on_raft_state=lambda old, new: emit(
            {"event": "raft", "old": old, "new": new, "t": time.time()}
        ),
    )
    await agent.start()
    emit({"event": "ready", "t": time.time()})
    controller = Controller(agent, hooks)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pending: set[asyncio.Task[None]] = set()

    async def serve(req: dict[str, Any]) -> None:
        try:
            answer = await getattr(controller, "op_" + req["op"])(req)
        except Exception as exc:  # report, so the controller sees it instead of a timeout
            answer = {"exception": f"{type(exc).__name__}: {exc}"}
        emit({"id": req["id"], **answer})
        if req["op"] == "stop":
            loop.stop()

    while line := await reader.readline():
        task = asyncio.create_task(serve(json.loads(line)))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await agent.stop()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except RuntimeError as exc:  # loop.stop() after "stop" ends asyncio.run this way
        if "Event loop stopped" not in str(exc):
            raise
