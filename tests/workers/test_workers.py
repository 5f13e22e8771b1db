"""A node with two workers, as real processes: one port, one node to its clients.

Every test starts ``atgw serve`` with ``server.workers: 2`` on SQLite and talks to it over
fresh connections (the kernel spreads new connections across the workers; ``/health`` names
the worker that answered, so a test knows which one it reached on a kept-alive connection).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

pytestmark = pytest.mark.timeout(120)

ADMIN = "workers-admin-token-0123456789"
REPO = Path(__file__).resolve().parents[2]
CHAT = {"model": "demo/mock-1", "max_tokens": 4,
        "messages": [{"role": "user", "content": "a b"}]}
_KEY = re.compile(r"gateway API key 'default' \(shown once\): (\S+)")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    proc: subprocess.Popen[bytes]
    url: str
    key: str
    log: Path
    config: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def _config(tmp: Path, port: int, **server: Any) -> Path:
    path = tmp / "at.yaml"
    audit = server.pop("audit", None)
    fault = server.pop("rotation_fault", None)
    extra = "".join(f", {k}: {v}" for k, v in server.items())
    path.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, admin_token: {ADMIN}, workers: 2,"
        f" log_format: json, shutdown_timeout: 10s{extra}}}\n"
        "providers: {demo: {type: mock}}\n"
        f"store: {{encryption_key: 'workers passphrase', sqlite: {{datasource: {tmp}/at.db}}"
        + (f", rotation_fault: {fault}" if fault else "") + "}\n"
        + (f"audit: {audit}\n" if audit else ""))
    return path


@contextmanager
def _running(tmp: Path, **server: Any) -> Iterator[Node]:
    port = _port()
    config = _config(tmp, port, **server)
    log = tmp / "node.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node", "serve", "--config", str(config), "--name", "n1"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield Node(proc, f"http://127.0.0.1:{port}", "", log, config)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@asynccontextmanager
async def _node(tmp: Path, **server: Any) -> AsyncIterator[Node]:
    with _running(tmp, **server) as node:
        await _until_ready(node)
        found = _KEY.search(node.log.read_text())
        assert found is not None, node.tail()
        node.key = found.group(1)
        yield node


async def _until_ready(node: Node, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert node.proc.poll() is None, f"the node exited:\n{node.tail()}"
        try:
            status, body = await _get(node, "/ready")
            if status == 200:
                return body
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"not ready within {timeout}s:\n{node.tail()}")


async def _get(node: Node, path: str, *, admin: bool = False) -> tuple[int, Any]:
    """One request on a connection of its own (so the kernel picks a worker afresh)."""
    headers = {"Authorization": f"Bearer {ADMIN}"} if admin else {}
    async with aiohttp.ClientSession() as session, session.get(
            node.url + path, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as r:
        body = await r.json(content_type=None) if "json" in r.content_type else await r.text()
        return r.status, body


async def _chat(node: Node, key: str) -> int:
    return (await _chat_usage(node, key))[0]


async def _chat_usage(node: Node, key: str) -> tuple[int, int]:
    """Status and the answer's output tokens."""
    async with aiohttp.ClientSession() as session, session.post(
            node.url + "/v1/chat/completions", json=CHAT,
            headers={"Authorization": f"Bearer {key}"},
            timeout=aiohttp.ClientTimeout(total=10)) as r:
        body = await r.json(content_type=None)
        return r.status, int((body.get("usage") or {}).get("completion_tokens", 0))


async def _workers(node: Node) -> dict[str, dict[str, Any]]:
    status, body = await _get(node, "/api/v1/cluster", admin=True)
    assert status == 200, body
    return {w["name"]: w for w in body["self"]["workers"]}


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_two_workers_serve_one_port_and_speak_as_one_node(tmp_path: Path) -> None:
    async with _node(tmp_path) as node:
        ready = await _until_ready(node)
        assert ready["checks"]["workers"] == {"serving": 2, "of": 2}
        seen: Counter[str] = Counter()
        for _ in range(40):
            status, body = await _get(node, "/health")
            assert status == 200 and body["workers"] == {"serving": 2, "of": 2}
            seen[body["worker"]] += 1
        assert set(seen) == {"w0", "w1"}, seen      # the kernel spread the connections
        workers = await _workers(node)
        children = subprocess.run(["pgrep", "-P", str(node.proc.pid)], capture_output=True,
                                  text=True, check=False).stdout.split()
        assert sorted(w["pid"] for w in workers.values()) == sorted(map(int, children))
        assert all(w["serving"] and w["restarts"] == 0 for w in workers.values())
        log = node.log.read_text()
        assert '"worker": "w0"' in log and '"worker": "w1"' in log    # each line says whose


async def test_metrics_are_one_exposition_summed_over_workers(tmp_path: Path) -> None:
    async with _node(tmp_path) as node:
        counts: Counter[str] = Counter()
        output = 0
        for _ in range(30):
            status, tokens = await _chat_usage(node, node.key)
            assert status == 200 and tokens > 0
            output += tokens
        for _ in range(30):
            status, body = await _get(node, "/health")
            counts[body["worker"]] += 1
        for _ in range(4):      # every worker answers /metrics with the node's totals
            status, text = await _get(node, "/metrics")
            assert status == 200
            assert _metric(text, "at_http_requests_total", route="/v1/chat/completions",
                           status="200") == 30
            assert _metric(text, "at_http_requests_total", route="/health") == 30
            assert _metric(text, "at_tokens_total", direction="output") == output
            assert _metric(text, "at_http_requests_in_flight") == 1   # this scrape only
        assert len(counts) == 2, counts


async def test_a_change_through_one_worker_reaches_the_other_at_once(tmp_path: Path) -> None:
    async with _node(tmp_path) as node, aiohttp.ClientSession() as session:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        async with session.post(node.url + "/api/v1/tokens", json={"name": "fresh"},
                                headers=admin) as r:
            assert r.status == 201
            made = await r.json()
        changed = time.monotonic()
        results = await asyncio.gather(*(_chat(node, made["key"]) for _ in range(20)))
        assert results == [200] * 20
        async with session.patch(node.url + f"/api/v1/tokens/{made['id']}",
                                 json={"enabled": False}, headers=admin) as r:
            assert r.status == 200, await r.text()
        changed = time.monotonic()
        results = await asyncio.gather(*(_chat(node, made["key"]) for _ in range(20)))
        assert results == [401] * 20
        assert time.monotonic() - changed < 1.0


async def test_a_killed_worker_is_restarted_and_other_connections_see_nothing(
        tmp_path: Path) -> None:
    async with _node(tmp_path) as node:
        sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
                    for _ in range(12)]
        try:
            owner: dict[int, str] = {}
            for i, session in enumerate(sessions):   # which worker holds each connection
                async with session.get(node.url + "/health") as r:
                    owner[i] = (await r.json())["worker"]
            assert set(owner.values()) == {"w0", "w1"}, owner
            victim = (await _workers(node))["w1"]["pid"]
            errors: Counter[str] = Counter()
            served: Counter[str] = Counter()
            stop = time.monotonic() + 4.0

            async def loop(i: int, session: aiohttp.ClientSession) -> None:
                while time.monotonic() < stop:
                    try:
                        async with session.post(
                                node.url + "/v1/chat/completions", json=CHAT,
                                headers={"Authorization": f"Bearer {node.key}"}) as r:
                            await r.read()
                            (served if r.status == 200 else errors)[owner[i]] += 1
                    except aiohttp.ClientError:
                        errors[owner[i]] += 1
                        owner[i] = "reconnected"     # a new connection: any worker

            async def kill() -> None:
                await asyncio.sleep(1.0)
                os.kill(victim, signal.SIGKILL)

            await asyncio.gather(kill(), *(loop(i, s) for i, s in enumerate(sessions)))
        finally:
            for session in sessions:
                await session.close()
        assert errors["w0"] == 0 and served["w0"] > 0, (errors, served)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            w1 = (await _workers(node))["w1"]
            if w1["serving"] and w1["pid"] != victim:
                break
            await asyncio.sleep(0.2)
        assert w1["restarts"] == 1 and w1["pid"] != victim, (w1, node.tail())
        assert await _chat(node, node.key) == 200
        assert "worker died; starting it again" in node.log.read_text()


async def test_sigterm_drains_every_worker_and_keeps_every_usage_record(
        tmp_path: Path) -> None:
    # Usage is flushed only at shutdown (30 s interval): a worker that quit without draining
    # would lose its records.
    async with _node(tmp_path, usage_flush_interval="30s") as node:
        sessions: dict[str, list[aiohttp.ClientSession]] = {"w0": [], "w1": []}
        spare: list[aiohttp.ClientSession] = []
        while min(len(v) for v in sessions.values()) < 2:
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
            async with session.get(node.url + "/health") as r:
                worker = (await r.json())["worker"]
            (sessions[worker] if len(sessions[worker]) < 2 else spare).append(session)
        for session in spare:
            await session.close()
        streams = [s for group in sessions.values() for s in group]
        body = {**CHAT, "stream": True, "max_tokens": 8,
                "messages": [{"role": "user", "content": "mock:slow:0.15"}]}
        try:
            answers = [await s.post(node.url + "/v1/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {node.key}"})
                       for s in streams]
            for answer in answers:
                assert answer.status == 200
                await answer.content.readline()       # the stream is under way
            node.proc.send_signal(signal.SIGTERM)
            texts = [(await a.read()).decode() for a in answers]
        finally:
            for session in streams:
                await session.close()
        assert all(t.rstrip().endswith("data: [DONE]") for t in texts), texts
        assert await asyncio.to_thread(node.proc.wait, 20) == 0, node.tail()
        with sqlite3.connect(tmp_path / "at.db") as db:
            rows = db.execute("SELECT COUNT(*) FROM at_usage").fetchone()[0]
        assert rows == len(streams), node.tail()
        log = node.log.read_text()
        assert log.count('"stopped"') == 2


async def test_workers_that_keep_dying_stop_the_node_with_an_error(tmp_path: Path) -> None:
    async with _node(tmp_path) as node:
        # Someone breaks the configuration; a worker dies and every restart fails.
        node.config.write_text(node.config.read_text().replace("workers: 2", "workers: two"))
        os.kill((await _workers(node))["w0"]["pid"], signal.SIGKILL)
        code = await asyncio.to_thread(node.proc.wait, 60)
        assert code == 1, node.tail()
        assert "workers keep dying" in node.log.read_text()
        assert subprocess.run(["pgrep", "-P", str(node.proc.pid)],
                              check=False).returncode == 1      # no worker left behind


async def test_a_worker_that_hits_the_rotation_fault_ends_the_whole_node(
        tmp_path: Path) -> None:
    """The test-only rotation fault stands for the node killed mid-rotation (what the chaos
    suite restarts with Docker): the supervisor ends with the worker's 137, nothing left."""
    async with _node(tmp_path, rotation_fault="before-notify") as node:
        with pytest.raises((aiohttp.ClientError, asyncio.TimeoutError)):
            async with aiohttp.ClientSession() as session, session.post(
                    node.url + "/api/v1/settings/rotate-key", json={},
                    headers={"Authorization": f"Bearer {ADMIN}"},
                    timeout=aiohttp.ClientTimeout(total=20)) as r:
                await r.read()
        code = await asyncio.to_thread(node.proc.wait, 20)
        assert code == 137, node.tail()
        assert "hit the rotation fault" in node.log.read_text()
        assert subprocess.run(["pgrep", "-P", str(node.proc.pid)],
                              check=False).returncode == 1      # no worker left behind
        with sqlite3.connect(tmp_path / "at.db") as db:     # the rotation had committed
            states = db.execute("SELECT state FROM at_keyring ORDER BY version").fetchall()
        assert [s for (s,) in states][-1:] == ["active"] and len(states) == 2, states


async def test_the_audit_log_of_every_worker_reads_back_from_any_worker(
        tmp_path: Path) -> None:
    async with _node(tmp_path, audit=f"{{path: {tmp_path}/audit}}") as node:
        for _ in range(16):
            assert await _chat(node, node.key) == 200
        deadline = time.monotonic() + 5.0
        while True:     # each worker writes its own file, in batches (audit.flush_interval)
            status, body = await _get(node, "/api/v1/audit?type=exchange&limit=500",
                                      admin=True)
            assert status == 200, body
            if len(body["data"]) >= 16 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert len(body["data"]) == 16, body
        assert {r["node"] for r in body["data"]} == {"n1.w0", "n1.w1"}
        assert len({r["request_id"] for r in body["data"]}) == 16
        files = sorted(p.name.split("-")[0] for p in (tmp_path / "audit").iterdir())
        assert files == ["n1.w0", "n1.w1"], files


async def test_live_events_show_every_worker_of_the_node(tmp_path: Path) -> None:
    async with _node(tmp_path) as node, aiohttp.ClientSession() as session:
        stop = time.monotonic() + 4.0

        async def load() -> None:
            while time.monotonic() < stop:
                await asyncio.gather(*(_chat(node, node.key) for _ in range(4)))

        seen: dict[str, float] = {}

        async def watch() -> None:
            async with session.get(node.url + "/api/v1/events",
                                   headers={"Authorization": f"Bearer {ADMIN}"}) as r:
                assert r.status == 200
                async for line in r.content:
                    if line.startswith(b"data: {") and b'"cluster"' in line:
                        event = orjson.loads(line[6:])
                        for name, figures in event["cluster"].get("nodes", {}).items():
                            seen[name] = max(seen.get(name, 0.0),
                                             figures.get("requests_per_second") or 0.0)
                    if time.monotonic() > stop + 1.5:
                        return

        await asyncio.gather(load(), watch())
        assert set(seen) == {"n1.w0", "n1.w1"}, seen      # the worker answering, its sibling
        assert all(rate > 0 for rate in seen.values()), seen
