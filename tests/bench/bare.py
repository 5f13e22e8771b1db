"""The floor the gateway is measured against: a bare aiohttp + uvloop forwarder.

It reads the body, posts it upstream on one pooled session and relays the answer, with no
auth, routing, metrics or accounting. ``python -m tests.bench.bare UPSTREAM PORT``.
"""

from __future__ import annotations

import logging
import sys

import aiohttp
import uvloop
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    session, upstream = request.app[SESSION], request.app[UPSTREAM]
    headers = {"Content-Type": "application/json"}
    if b'"stream":true' in body:
        async with session.post(f"{upstream}/sse/v1/chat/completions", data=body,
                                headers=headers) as answer:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
    async with session.post(f"{upstream}/json/v1/chat/completions", data=body,
                            headers=headers) as answer:
        data = await answer.read()
    return web.Response(body=data, content_type="application/json")


def main() -> None:
    upstream, port = sys.argv[1], int(sys.argv[2])

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app[SESSION].close()

    app = web.Application()
    app[UPSTREAM] = upstream
    app.router.add_post("/v1/chat/completions", forward)
    app.cleanup_ctx.append(session_ctx)
    # wrk hangs up mid-stream at the end of each run; that is not worth a traceback.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
