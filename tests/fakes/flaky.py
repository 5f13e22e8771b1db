"""``FlakyUpstream``: a fake OpenAI upstream a test can kill, restart, slow down, or set to
answer every request alike (a 429 storm, a run of 500s) mid-test.

    async with FlakyUpstream() as up:
        up.always = Json({"error": {"message": "slow down"}}, 429, {"Retry-After": "2"})
        await up.kill()      # connections refused from now on
        await up.restart()   # the same port again
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import FakeUpstream

__all__ = ["FlakyUpstream"]


class FlakyUpstream(FakeUpstream):
    """``always``: the answer to every request (None: the script, then the defaults);
    ``delay``: seconds to wait before answering (a request is recorded in ``requests`` after
    it); ``arrived``: requests received, counted on arrival."""

    def __init__(self) -> None:
        super().__init__()
        self.always: Any | None = None
        self.delay = 0.0
        self.arrived = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.arrived += 1
        if self.delay:
            await self._wait(self.delay)
        return await super()._handle(request)

    def _default(self, path: str, body: Any) -> Any:
        return self.always if self.always is not None else super()._default(path, body)

    async def kill(self) -> None:
        """Stop listening and drop every open connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self) -> None:
        """Listen again on the same port."""
        assert self._runner is None, "still running"
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        for _ in range(50):  # the port may linger a moment after the kill
            try:
                await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"port {self.port} did not come free")
