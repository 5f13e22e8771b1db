"""Measure a three-node cluster (real processes, Postgres, DNS) and print a table.

``make measure`` or ``python -m tests.integration.measure [--elections N] [--rotations N]
[--notices N]``. Not part of the test suite. Needs the PostgreSQL binaries.

- election: SIGKILL the leader, time until both survivors agree on a new leader with a
  quorum (polled every 20 ms through ``GET /api/v1/cluster``); the node is restarted between
  rounds;
- rotate-key: client-side latency of ``POST /api/v1/settings/rotate-key`` on a follower;
- change notice: create a gateway key on node A, then poll node B with it until B
  authenticates it (time from the create request being sent).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import aiohttp

from tests.integration.harness import (
    Client,
    GatewayCluster,
    agreed_leader,
    bus_meshed,
    short,
    until,
    wait_ready,
)
from tests.postgres import MISSING, PostgresServer, bindir


def _row(name: str, values: list[float], unit: str = "ms") -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return (f"{name:<28} {len(values):>4} {statistics.median(values):>10.1f} {p95:>10.1f} "
            f"{values[-1]:>10.1f}  {unit}")


async def _healthy(client: Client, gw: GatewayCluster) -> str:
    for node in gw.nodes:
        if not node.alive:
            node.start()
    await wait_ready(client, gw.nodes, 60)
    leader = await agreed_leader(client, gw.nodes, 30)
    await bus_meshed(client, gw.nodes)
    return short(leader)


async def _elections(client: Client, gw: GatewayCluster, rounds: int) -> list[float]:
    times = []
    for i in range(rounds):
        leader = gw.node(await _healthy(client, gw))
        survivors = [n for n in gw.nodes if n is not leader]
        killed = time.monotonic()
        leader.kill()
        await agreed_leader(client, survivors, 20, interval=0.02, exclude=leader.name)
        times.append((time.monotonic() - killed) * 1000)
        print(f"  election {i + 1}/{rounds}: {times[-1]:.0f} ms", file=sys.stderr)
    await _healthy(client, gw)
    return times


async def _rotations(client: Client, gw: GatewayCluster, rounds: int) -> list[float]:
    leader = await _healthy(client, gw)
    follower = next(n for n in gw.nodes if n.name != leader)
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        code, body = await client.rotate(follower)
        times.append((time.monotonic() - started) * 1000)
        if code != 200 or not all(body["peers"].values()):
            raise RuntimeError(f"rotate-key: {code} {body}")
    return times


async def _notices(client: Client, gw: GatewayCluster, rounds: int) -> list[float]:
    await _healthy(client, gw)
    a, b = gw.nodes[0], gw.nodes[1]
    times = []
    for i in range(rounds):
        started = time.monotonic()
        _, secret = await client.new_key(a, f"measure-{i}")

        async def accepted(secret: str = secret) -> bool:
            return await client.chat(b, secret) == 200

        await until(accepted, 10, "key accepted on the other node", interval=0.002)
        times.append((time.monotonic() - started) * 1000)
    return times


async def main(args: argparse.Namespace) -> int:
    binaries = bindir()
    if binaries is None:
        print(MISSING, file=sys.stderr)
        return 2
    with PostgresServer(binaries) as pg:
        gw = GatewayCluster(pg.dsn)
        try:
            gw.start()
            async with aiohttp.ClientSession() as session:
                client = Client(session)
                elections = await _elections(client, gw, args.elections)
                rotations = await _rotations(client, gw, args.rotations)
                notices = await _notices(client, gw, args.notices)
        except BaseException:
            print(gw.tails(), file=sys.stderr)
            raise
        finally:
            gw.close()
    print(f"\n{'3 nodes, loopback, Postgres':<28} {'n':>4} {'median':>10} {'p95':>10} "
          f"{'max':>10}")
    print(_row("election after leader kill", elections))
    print(_row("rotate-key (on a follower)", rotations))
    print(_row("change notice A -> B", notices))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elections", type=int, default=10)
    parser.add_argument("--rotations", type=int, default=20)
    parser.add_argument("--notices", type=int, default=20)
    sys.exit(asyncio.run(main(parser.parse_args())))
