"""A network partition of one node, in private network namespaces (run by test_partition.py).

Run as ``unshare -n -m --propagation private python -m tests.integration.partition_lab DSN``
(root). The lab's own network namespace is a router: node ``n{i}`` lives in namespace
``atgw-{id}-{i}`` behind a veth pair (10.77.{i}.2 <-> 10.77.{i}.1). The partition is two
iptables DROP rules in the router's FORWARD chain: the node is cut from its peers (bus and
Raft), while the controller (the router itself) still reaches its HTTP port and the database
(a Unix socket: the file system is shared) stays reachable, like a pod on a bad network
segment. Everything disappears with the lab's namespaces. Prints one JSON line of
observations; test_partition.py asserts on them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.harness import (
    RECONCILE,
    Client,
    GatewayNode,
    active_version,
    agreed_leader,
    bus_meshed,
    key_versions,
    node_config,
    provider_row_version,
    short,
    until,
    wait_ready,
)

HTTP, BUS, RAFT = 8080, 5000, 5001


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Lab:
    def __init__(self, n: int) -> None:
        self.n, self.tag = n, uuid.uuid4().hex[:6]
        self.names = [f"atgw-{self.tag}-{i}" for i in range(n)]

    def ip(self, i: int) -> str:
        return f"10.77.{i}.2"

    def up(self) -> None:
        sh("ip", "link", "set", "lo", "up")
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        for i, ns in enumerate(self.names):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", f"h{i}", "type", "veth", "peer", "name", f"p{i}")
            sh("ip", "link", "set", f"p{i}", "netns", ns)
            sh("ip", "addr", "add", f"10.77.{i}.1/24", "dev", f"h{i}")
            sh("ip", "link", "set", f"h{i}", "up")
            inside = ("ip", "netns", "exec", ns)
            sh(*inside, "ip", "link", "set", "lo", "up")
            sh(*inside, "ip", "addr", "add", f"{self.ip(i)}/24", "dev", f"p{i}")
            sh(*inside, "ip", "link", "set", f"p{i}", "up")
            sh(*inside, "ip", "route", "add", "default", "via", f"10.77.{i}.1")

    def down(self) -> None:
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def partition(self, i: int) -> None:
        sh("iptables", "-I", "FORWARD", "-s", f"10.77.{i}.0/24", "-j", "DROP")
        sh("iptables", "-I", "FORWARD", "-d", f"10.77.{i}.0/24", "-j", "DROP")

    def heal(self) -> None:
        sh("iptables", "-F", "FORWARD")


def make_nodes(lab: Lab, dsn: str, schema: str, workdir: Path) -> list[GatewayNode]:
    peers = [f"n{i}={lab.ip(i)}:{BUS}:{RAFT}" for i in range(lab.n)]
    nodes = []
    for i in range(lab.n):
        cluster = {"peers": peers, "bind_addr": lab.ip(i), "advertise": lab.ip(i),
                   "port": BUS, "raft_port": RAFT}
        config = node_config(ip=lab.ip(i), http_port=HTTP, dsn=dsn, schema=schema,
                             cluster=cluster)
        node = GatewayNode(f"n{i}", lab.ip(i), HTTP, config, workdir)
        node.wrapper = ["ip", "netns", "exec", lab.names[i]]
        nodes.append(node)
    return nodes


async def scenario(client: Client, lab: Lab, nodes: list[GatewayNode], dsn: str,
                   schema: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    await wait_ready(client, nodes, 60)
    cut = nodes[int(short(await agreed_leader(client, nodes, 30))[1:])]   # the leader
    rest = [n for n in nodes if n is not cut]
    await bus_meshed(client, nodes)
    out["partitioned"] = cut.name
    _, secret = await client.new_key(rest[0], "partition")
    before = await active_version(dsn, schema)

    lab.partition(nodes.index(cut))
    started = time.monotonic()
    new = await agreed_leader(client, rest, 20, interval=0.05, exclude=cut.name)
    out["majority_new_leader"] = short(new)
    out["majority_elected_s"] = round(time.monotonic() - started, 2)

    async def stepped_down() -> bool:
        state = await client.status(cut)
        return not state["has_quorum"] and short(state["leader"] or "") != cut.name

    await until(stepped_down, 10, "the cut-off leader steps down")
    out["minority_stepdown_s"] = round(time.monotonic() - started, 2)

    code, body = await client.rotate(rest[0])
    out["majority_rotate"] = code
    out["majority_rotate_acks"] = {short(k): v for k, v in body["peers"].items()}
    version = before + 1
    out["db_version_ok"] = await active_version(dsn, schema) == version
    t = time.monotonic()
    code, body = await client.rotate(cut, timeout=15)
    out["minority_rotate"], out["minority_rotate_s"] = code, round(time.monotonic() - t, 2)
    out["minority_rotate_message"] = str(body)[:200]

    t = time.monotonic()

    async def converged() -> bool:
        return (await key_versions(client, [cut]))[cut.name] == version

    await until(converged, RECONCILE + 3, "the cut-off node reconciles from the DB")
    out["minority_converged_s"] = round(time.monotonic() - t, 2)
    out["minority_chat"] = await client.chat(cut, secret)
    code, _ = await client.put_provider(cut, "from-minority", "sk-written-while-cut-off")
    out["minority_write"] = code
    out["minority_write_version_ok"] = (
        await provider_row_version(dsn, schema, "from-minority") == version)
    out["minority_ready"] = (await client.ready(cut))[0]

    lab.heal()
    t = time.monotonic()
    await agreed_leader(client, nodes, 20)
    out["rejoined_s"] = round(time.monotonic() - t, 2)
    await bus_meshed(client, nodes, timeout=15)
    out["meshed_after_heal_s"] = round(time.monotonic() - t, 2)
    state = await client.status(cut)
    out["peers_reachable_after_heal"] = all(p["reachable"] for p in state["peers"])
    return out


async def main(dsn: str) -> int:
    lab = Lab(3)
    workdir = Path(f"/tmp/at-it-partition-{lab.tag}")
    workdir.mkdir()
    schema = "itp_" + lab.tag
    nodes = make_nodes(lab, dsn, schema, workdir)
    try:
        lab.up()
        for node in nodes:
            node.start()
        async with aiohttp.ClientSession() as session:
            out = await scenario(Client(session), lab, nodes, dsn, schema)
        out["ok"] = True
    except Exception as exc:  # report, with the logs, instead of a bare traceback
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
               "logs": "\n".join(n.tail(15) for n in nodes)}
    finally:
        for node in nodes:
            node.kill()
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
