"""The node as a real process: first start, restart, SIGTERM drain, usage kept, bad passphrase."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

_KEY = re.compile(r"gateway API key 'default' \(shown once\): (\S+)")
_ADMIN = re.compile(r"admin token \(for /api/v1, shown once\): (\S+)")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp: Path, port: int, passphrase: str = "first passphrase") -> Path:
    path = tmp / "at.yaml"
    path.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, usage_flush_interval: 30s}}\n"
        "providers: {demo: {type: mock}}\n"
        f"store: {{encryption_key: '{passphrase}', sqlite: {{datasource: {tmp}/at.db}}}}\n"
    )
    return path


@asynccontextmanager
async def _node(config: Path, port: int) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node", "serve", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )
    assert proc.stdout is not None
    seen = b""
    try:
        async with asyncio.timeout(30):
            while b'"serving"' not in seen and b"serving" not in seen:
                line = await proc.stdout.readline()
                if not line:
                    break
                seen += line
        yield proc, seen.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_first_start_prints_secrets_once_and_sigterm_drains(tmp_path: Path) -> None:
    port = _port()
    config = _config(tmp_path, port)
    async with _node(config, port) as (proc, out):
        key = _KEY.search(out)
        assert key is not None and _ADMIN.search(out) is not None
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.post(url, headers=headers, json={
                    "model": "demo/mock-1", "max_tokens": 4,
                    "messages": [{"role": "user", "content": "a b"}]}) as resp:
                    assert resp.status == 200
            # A slow stream is in flight when SIGTERM arrives: it must finish, not be cut.
            slow = await session.post(url, headers=headers, json={
                "model": "demo/mock-1", "stream": True, "max_tokens": 8,
                "messages": [{"role": "user", "content": "mock:slow:0.1"}]})
            await slow.content.readline()
            proc.send_signal(signal.SIGTERM)
            body = (await slow.read()).decode()
            assert body.rstrip().endswith("data: [DONE]")
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    # Usage was queued for a 30 s flush: the clean shutdown wrote it anyway.
    with sqlite3.connect(tmp_path / "at.db") as db:
        rows = db.execute("select count(*), sum(output_tokens) from at_usage").fetchone()
    assert rows == (4, 3 * 4 + 8)
    async with _node(config, port) as (_, out):
        assert _KEY.search(out) is None and _ADMIN.search(out) is None


def _dump(path: Path) -> list[str]:
    """Every row of every table (the file's bytes may change when SQLite checkpoints its
    write-ahead log on close, which is not a write by the node)."""
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


async def test_wrong_passphrase_refuses_to_start_and_writes_nothing(tmp_path: Path) -> None:
    port = _port()
    async with _node(_config(tmp_path, port), port) as (proc, _):
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    before = _dump(tmp_path / "at.db")
    wrong = _config(tmp_path, port, passphrase="not the passphrase")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node", "serve", "--config", str(wrong),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "passphrase" in lines[0], lines
    assert _dump(tmp_path / "at.db") == before


async def test_a_port_taken_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Once a 27-line traceback (and a host that does not resolve the same)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        config = tmp_path / "at.yaml"
        config.write_text(f"server: {{host: 127.0.0.1, port: {port}, workers: 1}}\n"
                          "providers: {demo: {type: mock}}\nstore: {memory: {}}\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "node", "serve", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines[-1].startswith("atgw: config error: server.host, server.port: cannot listen "
                                f"on '127.0.0.1' port {port}: "), lines
    assert not any("Traceback" in line for line in lines), lines
