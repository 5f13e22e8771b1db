"""A scripted HTTP/1.1 server that writes exact bytes, for the upstream client's edge cases.

Each ``Step`` answers one request: ``reply`` is written verbatim (status line, headers,
body, framing and all), then the connection is closed if ``close`` says so. ``requests``
records (connection number, request bytes) so tests can tell which connection was reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Self

__all__ = ["RawServer", "Step"]


@dataclass(frozen=True)
class Step:
    reply: bytes = b""
    close: bool = False
    delay: float = 0.0


@dataclass
class RawServer:
    script: deque[Step] = field(default_factory=deque)
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def push(self, *steps: Step) -> None:
        self.script.extend(steps)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((number, head + body))
                step = self.script.popleft() if self.script else Step(close=True)
                if step.delay:
                    await asyncio.sleep(step.delay)
                writer.write(step.reply)
                await writer.drain()
                if step.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
