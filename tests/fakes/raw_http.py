"""A scripted HTTP/1.1 server that writes exact bytes, for the upstream client's edge cases.

Each ``Step`` answers one request: ``reply`` is written verbatim (status line, headers,
body, framing and all), then the connection is closed if ``close`` says so. ``requests``
records (connection number, request bytes) so tests can tell which connection was reused.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from tests.fakes.loopback import LoopbackServer

__all__ = ["RawServer", "Step"]


@dataclass(frozen=True)
class Step:
    reply: bytes = b""
    close: bool = False
    delay: float = 0.0


@dataclass
class RawServer(LoopbackServer):
    script: deque[Step] = field(default_factory=deque)
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    connections: int = 0

    def push(self, *steps: Step) -> None:
        self.script.extend(steps)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
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
                return
