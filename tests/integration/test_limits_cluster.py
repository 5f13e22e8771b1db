"""Limits held exactly by three real nodes on one Postgres, under a kill, a pause and a
Postgres restart, checked against the upstream's own ledger.

Two keys, each with its own provider (its own path on the fake upstream, so the ledger knows
whose request it saw): key ``a`` has ``requests_per_minute`` CAP; key ``b`` has
``output_tokens_per_minute`` TOKENS, its requests ask ``max_tokens`` MAX_TOKENS and the upstream
answers each with 1 to MAX_TOKENS tokens (the gateway reserves MAX_TOKENS and refunds the rest).
200 client loops per key post to random nodes, streamed and not, with no pause after a success:
every minute window fills within seconds and the rest of it is 429s, retried after a short
sleep. The load runs from 12 s before a minute boundary B to 2 s after the next one, so there
is one complete window [B, B+60) and a partial one on each side. Chaos, on the clock of the
windows:

- B-9: SIGKILL ``at-0`` (its slices and in-flight requests are forfeited); B-7: restart it;
- B-1 .. B+1: SIGSTOP ``at-1`` across the boundary (its slices expire while it sleeps);
- B+0.5: ``pg_ctl restart -m fast`` while the new window fills.

Checks (limits_lab.py explains how each request is given its window): no window of either key
over its cap (requests: whatever window an untagged request is given; tokens: those that can
only be in the window), the complete window (no kill in it) at least 99% used by requests that
could only belong to it; every 429 in OpenAI's shape naming the limit with a ``Retry-After`` no
later than the window's end; every node answering again after its fault.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import aiohttp
import pytest

from tests.fakes.ledger_upstream import LedgerUpstream
from tests.integration.conftest import logs_on_failure
from tests.integration.harness import (
    Client,
    GatewayCluster,
    GatewayNode,
    agreed_leader,
    bus_meshed,
    until,
    wait_ready,
)
from tests.integration.limits_lab import WINDOW, Load, definite, grouped, over_cap, window_of
from tests.postgres import PostgresServer

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(240)]

CAP = 600
TOKENS = 24_000
MAX_TOKENS = 20
TAGS = ("a", "b")
LIMITS = {"a": {"requests_per_minute": CAP}, "b": {"output_tokens_per_minute": TOKENS}}
LEAD = 12.0  # seconds of load before the boundary
TAIL = 2.0  # seconds of load after the complete window


async def _at(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


async def _limited_keys(client: Client, gw: GatewayCluster) -> dict[str, str]:
    """One key per tag with its LIMITS, known to every node."""
    keys = {}
    for tag in TAGS:
        key_id, secret = await client.new_key(gw.nodes[0], f"limited-{tag}")
        code, data = await client.call(gw.nodes[0], "PATCH", f"/api/v1/tokens/{key_id}",
                                       {"limits": LIMITS[tag]})
        assert code == 200, data
        keys[tag] = secret
    for tag, secret in keys.items():
        for node in gw.nodes:
            async def knows(node: GatewayNode = node, secret: str = secret,
                            name: str = next(iter(LIMITS[tag]))) -> bool:
                code, data = await client.call(node, "GET", "/v1/key", admin=False,
                                               headers={"Authorization": f"Bearer {secret}"})
                return code == 200 and name in (data.get("limits") or {})
            await until(knows, 10, f"{node.name} knows the limit of key {tag}")
    return keys


async def _chaos(gw: GatewayCluster, pg: PostgresServer, boundary: float,
                 log: list[str]) -> None:
    killed, paused = gw.nodes[0], gw.nodes[1]

    async def kill() -> None:
        await _at(boundary - 9)
        killed.kill()
        log.append(f"{time.time() - boundary:+.2f} killed {killed.name}")
        await _at(boundary - 7)
        killed.start()
        log.append(f"{time.time() - boundary:+.2f} restarted {killed.name}")

    async def pause() -> None:
        await _at(boundary - 1)
        paused.signal(signal.SIGSTOP)
        await _at(boundary + 1)
        paused.signal(signal.SIGCONT)
        log.append(f"{time.time() - boundary:+.2f} resumed {paused.name}")

    async def restart() -> None:
        await _at(boundary + 0.5)
        await asyncio.to_thread(pg.restart)
        log.append(f"{time.time() - boundary:+.2f} Postgres is back")

    await asyncio.gather(kill(), pause(), restart())


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
async def test_request_limits_hold_under_chaos(postgres_server: PostgresServer,
                                               workers: int) -> None:
    """The same ledger with each node one process, then two workers per node (each worker is
    its own lease holder, so exactness must not depend on how many there are)."""
    async with LedgerUpstream() as upstream:
        gw = GatewayCluster(postgres_server.dsn, workers=workers)
        gw.set_providers({f"up-{tag}": {"type": "openai", "api_key": "sk-ledger",
                                        "base_url": upstream.base_url(tag)} for tag in TAGS})
        try:
            gw.start()
            with logs_on_failure(gw):
                await _run(gw, postgres_server, upstream)
        finally:
            gw.close()


async def _run(gw: GatewayCluster, pg: PostgresServer, upstream: LedgerUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        client = Client(session)
        await wait_ready(client, gw.nodes)
        await agreed_leader(client, gw.nodes)
        await bus_meshed(client, gw.nodes)
        keys = await _limited_keys(client, gw)
    boundary = window_of(time.time() + LEAD + 1) + WINDOW
    await _at(boundary - LEAD)
    load = Load(gw.nodes, keys, {tag: f"up-{tag}/m" for tag in TAGS},
                {tag: next(iter(LIMITS[tag])) for tag in TAGS}, {"b": MAX_TOKENS})
    chaos_log: list[str] = []
    await asyncio.gather(load.run(boundary + WINDOW + TAIL), _chaos(gw, pg, boundary, chaos_log))
    await asyncio.sleep(0.5)  # the last streams finish writing

    attempts = load.attempts.values()
    statuses = Counter(a.status for a in attempts)
    report = (f"statuses {dict(statuses)}, errors {dict(Counter(a.error for a in attempts))}, "
              f"chaos {chaos_log}")
    print(report)
    assert set(statuses) <= {0, 200, 429, 503}, report
    assert not load.problems, f"{len(load.problems)} problems: {load.problems[:3]}; {report}"
    for tag in TAGS:
        found = grouped(upstream.ledger, load.attempts, lambda e, t=tag: e.tag == t)
        assert not found.problems, \
            f"key {tag}: {len(found.problems)} problems: {found.problems[:3]}; {report}"
        if tag == "a":
            cap, used = CAP, definite(found.options)
            assert over_cap(found.options, CAP) == [], f"key a over {CAP}: {used}; {report}"
        else:
            cap, used = TOKENS, definite(found.options, found.tokens)
            assert max(used.values()) <= TOKENS, f"key b over {TOKENS}: {used}; {report}"
        windows = sorted((w - boundary, n) for w, n in used.items())
        print(f"key {tag}: {len(found.options)} upstream requests, definite {windows}")
        assert used[boundary] >= 0.99 * cap, \
            f"key {tag}: {used[boundary]} of {cap} in the full window; {report}"
        assert any(a.tag == tag and a.status == 429 for a in attempts), f"no 429: {report}"
    for node in gw.nodes:  # each node answered again after its fault
        assert any(a.node == node.name and a.status == 200 and a.sent >= boundary + 1
                   for a in attempts), f"{node.name} never answered after B+1; {report}"


def test_the_ledger_check_blames_only_provable_overshoots() -> None:
    full, early, late = [0.0], [0.0, 60.0], [60.0]
    # 3 + 2 requests that may go either side fit caps of 4 in both windows...
    assert over_cap([full] * 3 + [early] * 2 + [late] * 2, 4) == []
    # ...one more cannot, whichever side it goes to; and a definite excess is always seen.
    assert over_cap([full] * 3 + [early] * 4 + [late] * 2, 4) == [60.0]
    assert over_cap([full] * 5, 4) == [0.0]
    assert definite([full] * 3 + [early] * 2 + [late]) == {0.0: 3, 60.0: 1}
    assert definite([full, early, late, full], [5, 7, 11, 13]) == {0.0: 18, 60.0: 11}
