"""Real node processes on loopback: elections, locks, the bus, pauses, DNS, shutdown."""

from __future__ import annotations

import asyncio
import signal
import statistics
import time

import pytest

from .conftest import SECRET, Cluster, NodeProc, free_ports
from .dns_server import DnsServer, HeadlessService

pytestmark = pytest.mark.cluster


@pytest.mark.timeout(240)
async def test_leader_killed_and_reelected_10_times() -> None:
    cluster = Cluster(3)
    try:
        await cluster.start()
        await cluster.leader()
        elections: list[float] = []
        agreed: list[float] = []
        for _ in range(10):
            leader = cluster.node(await cluster.leader())
            survivors = [n for n in cluster.nodes if n is not leader]
            killed_at = time.time()
            await leader.kill()
            event = await asyncio.wait_for(_first_leader_event(survivors, killed_at), 15)
            elections.append(event - killed_at)
            await cluster.leader(among=survivors)
            agreed.append(time.time() - killed_at)
            assert (await survivors[0].call("lock", name="after-failover"))["ok"]
            await leader.start()
            await cluster.leader()
        print(f"\nelection after leader SIGKILL (10 runs): median "
              f"{statistics.median(elections):.3f}s max {max(elections):.3f}s; "
              f"survivors agree: median "
              f"{statistics.median(agreed):.3f}s max {max(agreed):.3f}s")
        assert max(elections) < 5.0
    finally:
        await cluster.close()


async def _first_leader_event(nodes: list[NodeProc], since: float) -> float:
    while True:
        times = [e["t"] for n in nodes for e in n.events
                 if e.get("event") == "raft" and e["new"] == "leader" and e["t"] > since]
        if times:
            return float(min(times))
        await asyncio.sleep(0.01)


@pytest.mark.timeout(120)
async def test_locks_bus_latency_and_shutdown(cluster3: Cluster) -> None:
    n0, n1, n2 = cluster3.nodes
    await cluster3.leader()
    # Exclusive across nodes, and the waiting node gets it right after the awaited release.
    holder = asyncio.create_task(n1.call("lock", name="rotation", hold=1.0))
    await asyncio.sleep(0.4)
    assert [(await n.call("lock", name="rotation"))["error"] for n in (n0, n2)] == \
        ["LockBusy", "LockBusy"]
    assert (await holder)["ok"]
    # Pitfall 3: three tasks on one node, one holder.
    assert (await n0.call("gather_locks", name="rotation", n=3, hold=0.3))["ok_count"] == 1
    # Pitfall 4: release is awaited, so the next node never sees a stale holder.
    for i in range(20):
        first, second = (n0, n1) if i % 2 == 0 else (n2, n0)
        assert (await first.call("lock", name="seq"))["ok"]
        assert (await second.call("lock", name="seq"))["ok"], i
    # Pitfall 2: an acquire that timed out is released, not left as a ghost.
    ghost = await n2.call("ghost", name="ghost", after=1.0)
    assert ghost == {"id": ghost["id"], "timed_out": True, "held": False}
    assert (await n0.call("lock", name="ghost"))["ok"]
    # Pitfall 7: 200 lock ops plus bus notices; the loop does not stall 20 ms. The p99 is
    # asserted (the max is printed): the 2 shared cores add scheduling noise that is not ours.
    probe = await n1.call("lock_many", name="probe", n=200, timeout=60)
    assert "exception" not in probe, probe
    print(f"\nlock acquire+release: median {probe['median_ms']:.2f} ms max {probe['max_ms']:.2f} "
          f"ms; loop lag p99 {probe['p99_lag_ms']:.2f} ms max {probe['max_lag_ms']:.2f} ms "
          f"over {probe['ticks']} ticks")
    assert probe["p99_lag_ms"] < 20
    assert (await n1.call("block", seconds=0.05))["max_lag_ms"] > 40     # the probe can see
    # Change notices: latency to each peer's hook.
    latencies = []
    for i in range(20):
        sent = await n0.call("notify", kind="api_key", item=f"k{i}")
        assert sent["acks"] == {"n1": True, "n2": True}
        for node in (n1, n2):
            event = await node.wait_event(lambda e, i=i: e.get("item") == f"k{i}", 5)
            latencies.append((event["t"] - sent["t_sent"]) * 1000)
    print(f"change notice latency: median {statistics.median(latencies):.2f} ms "
          f"max {max(latencies):.2f} ms")
    info = await n2.call("raft_info", after=0.5)
    assert info["password_set"] and info["use_fork"] is False and info["tick_alive"]
    status = await n0.status()
    assert status["has_quorum"] and len(status["voters"]) == 3
    assert all(p["reachable"] for p in status["peers"])
    # Pitfall 30: clean shutdown well under 2 s, no thread left behind.
    stopped = await n2.call("stop")
    print(f"clean stop: {stopped['stop_s'] * 1000:.0f} ms")
    assert stopped["stop_s"] < 2.0
    assert all(t == "MainThread" or t.startswith("asyncio_") for t in stopped["threads"])
    assert n2.proc is not None
    assert await asyncio.wait_for(n2.proc.wait(), 5) == 0


@pytest.mark.timeout(120)
async def test_read_only_member_locks_without_voting() -> None:
    """Pitfall 12: a 4th member locks, the voter set stays 3."""
    cluster = Cluster(3, members=4)
    try:
        await cluster.start()
        await cluster.leader()
        n3 = cluster.node("n3")
        status = await n3.status()
        assert status["self"]["voter"] is False and len(status["voters"]) == 3
        assert "n3" not in {v.split(":")[0] for v in status["voters"]}
        assert (await n3.call("lock", name="rotation", hold=0.5))["ok"]
        assert (await cluster.node("n0").call("lock", name="rotation"))["ok"]
        assert len((await cluster.node("n0").status())["voters"]) == 3
    finally:
        await cluster.close()


@pytest.mark.timeout(120)
async def test_wrong_secret_isolated_and_counted() -> None:
    cluster = Cluster(3)
    cluster.nodes[2].spec["config"]["security_key"] = SECRET + "-wrong"
    try:
        await cluster.start()
        n0, n1, n2 = cluster.nodes
        await cluster.leader(among=[n0, n1])
        acks = (await n0.call("notify", kind="provider", item="p"))["acks"]
        assert acks == {"n1": True, "n2": False}
        await asyncio.sleep(1.0)
        bad = await n2.status()
        assert bad["leader"] is None and not bad["has_quorum"]
        assert not any(p["reachable"] for p in bad["peers"])
        assert bad["bus"]["forged"] > 0 and (await n0.status())["bus"]["forged"] > 0
    finally:
        await cluster.close()


@pytest.mark.timeout(120)
async def test_paused_node_rejects_late_frames_and_catches_up() -> None:
    """SIGSTOP/SIGCONT: frames queued for it arrive stale (pitfall 18); it then catches up."""
    cluster = Cluster(3, bus_window=2.0)
    try:
        await cluster.start()
        n0, n1, n2 = cluster.nodes
        await cluster.leader()
        n2.signal(signal.SIGSTOP)
        acks = (await n0.call("notify", kind="provider", item="late"))["acks"]
        assert acks == {"n1": True, "n2": False}
        await n0.call("set_key", version=5)
        await n1.call("set_key", version=5)
        assert (await n0.call("notify_key", version=5))["acks"] == {"n1": True, "n2": False}
        # A late or replayed older activation is refused: key versions never move backwards.
        assert (await n0.call("notify_key", version=4))["acks"] == {"n1": False, "n2": False}
        assert (await n1.status())["bus"]["backwards_key"] == 1
        assert (await n0.call("notify_key", version=6, prepared=True))["acks"]["n1"] is True
        assert (await n0.call("lock", name="rotation"))["ok"]          # quorum of two
        await asyncio.sleep(3.0)
        n2.signal(signal.SIGCONT)
        await cluster.leader()
        await n2.call("set_key", needs=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = await n2.call("status")
            if 5 in state["hints"] and state["imported"]:
                break
            await asyncio.sleep(0.2)
        assert 5 in state["hints"] and state["imported"] == ["material-v1"]
        assert state["status"]["bus"]["stale"] >= 2
        assert not any(e.get("item") == "late" for e in n2.events)
        assert (await n2.call("lock", name="rotation"))["ok"]
    finally:
        await cluster.close()


@pytest.mark.timeout(120)
async def test_dns_nxdomain_then_records_converges() -> None:
    """Pitfall 9: no records for a while, then a headless Service appears; voters by ordinal."""
    fqdn = "at-headless.ns.svc.test"
    service = HeadlessService(fqdn)
    dns_port, bus_port, raft_port = free_ports(3)
    addresses = {f"at-{i}": f"127.0.0.{i + 2}" for i in range(3)}
    nodes = [NodeProc(name, {"name": name, "config": {
        **_dns_config(), "dns_addr": fqdn, "dns_server": f"127.0.0.1:{dns_port}",
        "bind_addr": ip, "port": bus_port, "raft_port": raft_port}})
        for name, ip in addresses.items()]
    cluster = Cluster(0)
    cluster.nodes = nodes
    try:
        with DnsServer(service, dns_port):
            await cluster.start()
            await asyncio.sleep(2.0)
            before = await asyncio.gather(*(n.status() for n in nodes))
            assert all(s["leader"] is None for s in before)
            published = time.monotonic()
            service.set_pods(addresses)
            await cluster.leader(timeout=20)
            converged = time.monotonic() - published
            print(f"\nDNS records published -> agreed leader in {converged:.2f}s")
            status = await nodes[0].status()
            assert status["voters"] == [f"at-{i}.{fqdn}:{raft_port}" for i in range(3)]
            assert converged < 10
    finally:
        await cluster.close()


def _dns_config() -> dict[str, object]:
    from .conftest import FAST
    return {k: v for k, v in FAST.items() if k != "bind_addr"}
