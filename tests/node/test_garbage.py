"""The request path leaves no cyclic garbage.

The node raises the collector's first threshold while serving (``node.cli.YOUNG_OBJECTS``)
because reference counting frees every request's objects; a change that made requests leave
reference cycles behind would make the collector a per-request cost again. This counts what
the collector finds after many requests through a node (the test's own client and fake
upstream, in the same process, are counted too: the bound holds for all of them).
"""

from __future__ import annotations

import collections
import dataclasses
import gc
from typing import Any

import aiohttp

from tests.fakes.openai_upstream import FakeUpstream
from tests.node.harness import Node

ROUNDS = 200


async def _round(session: aiohttp.ClientSession, node: Node) -> None:
    for stream in (False, True):
        body = {"model": "up/fake-model", "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]}
        async with session.post(f"{node.url}/v1/chat/completions", json=body,
                                headers=node.auth()) as resp:
            await resp.read()
            assert resp.status == 200
            assert resp.headers["x-ratelimit-limit-requests"] == "1000000"


async def test_requests_leave_no_cyclic_garbage(proxied: Node, upstream: FakeUpstream) -> None:
    # limits on the key: admission, the headers and settlement run on every request too
    store = proxied.gateway.store
    record = (await store.list_api_keys())[0]
    limits = {"requests_per_minute": 1_000_000, "input_tokens_per_minute": 10**9,
              "output_tokens_per_day": 10**9}
    await store.update_api_key(dataclasses.replace(record, policy={"limits": limits}))
    await proxied.gateway.reload_key(record.id)
    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # pools, caches and lazy imports settle first
            await _round(session, proxied)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what is found, to name it if the test fails
        try:
            for _ in range(ROUNDS):
                await _round(session, proxied)
            found = gc.collect()
            kinds: Any = collections.Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert len(upstream.requests) >= 2 * ROUNDS
    # under one object a request: nothing a request does leaves a cycle
    assert found < ROUNDS, f"{found} objects in cycles: {kinds.most_common(12)}"
