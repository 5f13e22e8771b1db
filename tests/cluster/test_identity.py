"""One identity per node: the A-record topology beside the StatefulSet one, and duplicates.

Real node processes (harness_node.py) on distinct loopback addresses, found through a local DNS
server. Under bare A records nothing names the members but their addresses, and the node names
are arbitrary: every node must still match each peer's frames to that peer.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio

from cluster.config import ClusterConfig, Peer, parse_peer
from cluster.identity import Challenges, Claim
from cluster.membership import Membership
from cluster.messages import Header, MsgType

from .conftest import FAST, SECRET, Cluster, NodeProc, free_ports
from .dns_server import DnsServer, HeadlessService

pytestmark = pytest.mark.cluster

SERVICE = "gateway.service.consul.test"


def _dns_config(**extra: Any) -> dict[str, Any]:
    return {**{k: v for k, v in FAST.items() if k != "bind_addr"}, **extra}


def _config(**fields: Any) -> ClusterConfig:
    return ClusterConfig(security_key=SECRET, replicas=3, **fields)


def _a_records(*hosts: str) -> list[Peer]:
    return [Peer(h, h, 5000, 5001) for h in hosts]


def test_a_records_identity_is_the_address_on_every_node() -> None:
    """A specific bind: the claim is the address; the node name plays no part."""
    config = _config(dns_addr=SERVICE, bind_addr="10.0.0.2")
    members = _a_records("10.0.0.1", "10.0.0.2", "10.0.0.3")
    seen_by: dict[str, list[str]] = {}
    for host, name in (("10.0.0.1", "gw-a"), ("10.0.0.2", "gw-b"), ("10.0.0.3", "gw-c")):
        cfg = _config(dns_addr=SERVICE, bind_addr=host)
        membership = Membership(cfg, name, {host})
        assert membership.identity == host
        membership.apply(members)
        seen_by[host] = sorted(membership.table)
        assert membership.plan is not None
        assert membership.plan.self_id == f"{host}:5001"
    assert seen_by["10.0.0.1"] == ["10.0.0.2", "10.0.0.3"]
    membership = Membership(config, "gw-b", {"10.0.0.2"})
    membership.apply(members)
    membership.seen("10.0.0.3", key_version=4)          # a request from a peer's identity
    row = membership.table["10.0.0.3"]
    assert row.reachable and row.identity == "10.0.0.3" and row.key_version == 4


def test_unspecific_bind_settles_on_the_address_discovery_lists() -> None:
    """bind 0.0.0.0 (compose --scale, a Deployment): the host name until DNS shows us."""
    config = _config(dns_addr=SERVICE)
    membership = Membership(config, "3f2a9c1b7d0e", {"172.18.0.7", "3f2a9c1b7d0e"})
    assert membership.identity == "3f2a9c1b7d0e"
    others = membership.apply(_a_records("172.18.0.5", "172.18.0.6", "172.18.0.7"))
    assert membership.identity == "172.18.0.7"
    assert [p.name for p in others] == ["172.18.0.5", "172.18.0.6"]
    membership.apply(_a_records("172.18.0.6", "172.18.0.7", "172.18.0.9"))
    assert membership.identity == "172.18.0.7"          # settled once, never renamed


def test_unknown_sender_is_matched_once_discovery_lists_it() -> None:
    membership = Membership(_config(dns_addr=SERVICE, bind_addr="10.0.0.1"), "x", {"10.0.0.1"})
    membership.apply(_a_records("10.0.0.1", "10.0.0.2"))
    membership.seen("10.0.0.3", key_version=7)         # not in DNS yet
    assert "10.0.0.3" not in membership.table
    membership.apply(_a_records("10.0.0.1", "10.0.0.2", "10.0.0.3"))
    row = membership.table["10.0.0.3"]
    assert row.reachable and row.key_version == 7
    membership.bind("10.0.0.2", "10.0.0.2", key_version=3)   # a reply on the link dialled
    assert membership.table["10.0.0.2"].reachable and membership.max_key_version() == 7


def test_statefulset_identity_is_the_voter_fqdn() -> None:
    fqdn = "at-headless.ns.svc.test"
    membership = Membership(_config(dns_addr=fqdn, advertise=f"at-1.{fqdn}"), "at-1",
                            {"10.1.0.11"})
    assert membership.identity == f"at-1.{fqdn}"
    peers = [Peer(f"at-{i}.{fqdn}", f"10.1.0.1{i}", 5000, 5001) for i in range(3)]
    assert [p.name for p in membership.apply(peers)] == [f"at-0.{fqdn}", f"at-2.{fqdn}"]
    membership.seen("at-2", key_version=None)          # a pod name matches its FQDN's row
    assert membership.table[f"at-2.{fqdn}"].reachable


def test_an_entry_naming_us_elsewhere_is_probed_not_a_peer() -> None:
    config = _config(peers=("a=127.0.0.1:7000:7001", "b=127.0.0.1:7002:7003"), port=7100,
                     raft_port=7101, bind_addr="127.0.0.1")
    membership = Membership(config, "a", {"127.0.0.1"})
    others = membership.apply(_static(config))
    assert membership.identity == "a" and [p.name for p in others] == ["b"]
    assert list(membership.claimants) == ["a"] and "a" not in membership.table
    membership.confirm_loopback("a")                  # it answered with our own boot
    membership.apply(_static(config))
    assert membership.claimants == {}


def _static(config: ClusterConfig) -> list[Peer]:
    return [parse_peer(spec, config.port, config.raft_port) for spec in config.peers]


def test_the_later_boot_yields() -> None:
    assert Claim.of("a", 10, "b", 5) is Claim.OTHER
    assert Claim.of("a", 10, "a", 10) is Claim.LOOPBACK
    assert Claim.of("a", 10, "a", 5) is Claim.WE_YIELD
    assert Claim.of("a", 5, "a", 10) is Claim.THEY_YIELD


def test_a_challenge_counts_once_and_only_for_its_boot() -> None:
    challenges = Challenges(ttl=30.0, limit=2)
    first = challenges.issue(5)
    assert not challenges.answered(5, "00" * 16) and not challenges.answered(5, None)
    assert not challenges.answered(6, first)            # another boot: spent, and refused
    second, third = challenges.issue(5), challenges.issue(5)
    assert challenges.answered(5, second) and not challenges.answered(5, second)
    fourth = challenges.issue(5)
    assert challenges.answered(5, third) and challenges.answered(5, fourth)
    oldest, *kept = (challenges.issue(7) for _ in range(3))   # beyond the limit: oldest goes
    assert not challenges.answered(7, oldest)
    assert all(challenges.answered(7, nonce) for nonce in kept)


async def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.1)


@pytest.mark.timeout(120)
async def test_a_record_topology_notices_and_key_material() -> None:
    """Three nodes named like Deployment pods, discovered by three A records (no SRV)."""
    service = HeadlessService(SERVICE, srv=False)
    dns_port, bus_port, raft_port = free_ports(3)
    addresses = {"gw-7d9f4-kx2lp": "127.0.0.21", "gw-7d9f4-q8zt1": "127.0.0.22",
                 "gw-7d9f4-b0vwm": "127.0.0.23"}
    service.set_pods(addresses)
    nodes = [NodeProc(name, {"name": name, "config": _dns_config(
        dns_addr=SERVICE, dns_server=f"127.0.0.1:{dns_port}", bind_addr=ip, port=bus_port,
        raft_port=raft_port)}) for name, ip in addresses.items()]
    cluster = Cluster(0)
    cluster.nodes = nodes
    ips = list(addresses.values())
    try:
        with DnsServer(service, dns_port):
            await cluster.start()
            await cluster.leader(timeout=20)
            # A change notice reaches every peer within a second, acked under its identity.
            sent = await nodes[0].call("notify", kind="provider", item="created-on-first")
            assert sent["acks"] == {ips[1]: True, ips[2]: True}, sent
            for node in nodes[1:]:
                event = await node.wait_event(
                    lambda e: e.get("item") == "created-on-first", 1.0)
                assert event["t"] - sent["t_sent"] < 1.0
            # Restarted with a stale passphrase: a peer hands it the key material.
            stale = nodes[2]
            await stale.kill()
            stale.spec["needs"] = True
            await stale.start()

            async def imported() -> list[str]:
                found: list[str] = (await stale.call("status"))["imported"]
                return found

            assert await _until(imported, 10.0, "key material from a peer") == ["material-v1"]
            # One identity everywhere: self, peer-table keys, claimed senders, Raft voters.
            for node, ip in zip(nodes, ips, strict=True):
                status = await _until(lambda node=node: _all_reachable(node), 5.0, "reachable")
                assert status["self"]["identity"] == ip
                others = sorted(set(ips) - {ip})
                assert [p["name"] for p in status["peers"]] == others
                assert [p["identity"] for p in status["peers"]] == others
                assert status["voters"] == [f"{a}:{raft_port}" for a in ips]
    finally:
        await cluster.close()


async def _all_reachable(node: NodeProc) -> dict[str, Any] | None:
    status = await node.status()
    peers = status["peers"]
    return status if len(peers) == 2 and all(p["reachable"] for p in peers) else None


@pytest.mark.timeout(120)
async def test_two_nodes_with_one_identity_one_refuses_loudly(tmp_path: Path) -> None:
    """A second process named ``n0`` (its own ports, the same peer list) never joins as n0."""
    cluster = Cluster(3)
    n0 = cluster.node("n0")
    n0.log = tmp_path / "n0.log"
    spare_bus, spare_raft = free_ports(2)
    twin = NodeProc("n0-twin", {"name": "n0", "config": {
        **n0.spec["config"], "port": spare_bus, "raft_port": spare_raft}},
        log=tmp_path / "twin.log")
    try:
        await cluster.start()
        await cluster.leader()
        with pytest.raises(RuntimeError, match="exited"):
            await twin.start()
        assert twin.proc is not None and await twin.proc.wait() != 0
        refusal = (tmp_path / "twin.log").read_text()
        assert "DuplicateIdentity" in refusal and "'n0'" in refusal, refusal[-2000:]
        # The node that held the identity first says so too, and stays in the cluster.
        assert "duplicate cluster identity" in n0.log.read_text()
        status = await n0.status()
        assert status["self"]["identity"] == "n0" and status["self"]["conflict"] == ""
        sent = await n0.call("notify", kind="api_key", item="after-twin")
        assert sent["acks"] == {"n1": True, "n2": True}
        assert (await n0.call("lock", name="after-twin"))["ok"]
    finally:
        await twin.kill()
        await cluster.close()


@pytest.mark.timeout(120)
async def test_the_later_claimant_yields_even_when_it_is_the_original(tmp_path: Path) -> None:
    """n0 dies, a twin takes the name ``n0`` (nobody answered its probe), n0 comes back: the
    restarted n0 is the later boot, so it is the one that refuses or leaves, never merges."""
    cluster = Cluster(3)
    n0 = cluster.node("n0")
    n0.log = tmp_path / "n0.log"
    spare_bus, spare_raft = free_ports(2)
    twin = NodeProc("n0-twin", {"name": "n0", "config": {
        **n0.spec["config"], "port": spare_bus, "raft_port": spare_raft}},
        log=tmp_path / "twin.log")
    try:
        await cluster.start()
        await n0.kill()
        await twin.start()
        assert (await twin.status())["self"]["identity"] == "n0"
        n0.events.clear()
        try:
            await n0.start()
        except RuntimeError:                 # refused while starting
            assert n0.proc is not None and await n0.proc.wait() != 0
        else:                                # or left right after: bus stopped, conflict told
            async def left() -> dict[str, Any] | None:
                status = await n0.status()
                return status if status["self"]["conflict"] else None

            status = await _until(left, 5.0, "n0 leaves")
            assert "refusing to join" in status["self"]["conflict"]

            async def bus_closed() -> bool:
                return (await n0.call("notify", kind="api_key", item="x"))["acks"] == {}

            assert await _until(bus_closed, 2.0, "n0's bus closed")
        assert "duplicate cluster identity" in n0.log.read_text()
        assert (await twin.status())["self"]["conflict"] == ""        # the earlier one stays
    finally:
        await twin.kill()
        await cluster.close()


@pytest.mark.timeout(120)
async def test_a_replayed_ping_from_a_previous_boot_never_evicts_the_restarted_node() -> None:
    """A PING sealed by n0's previous process, captured and replayed within ``bus_window``
    against the restarted n0, proves nothing about a live duplicate: n0 stays, no conflict."""
    cluster = Cluster(3, bus_window=60.0)
    n0, n1, n2 = cluster.nodes
    ctx = zmq.asyncio.Context()
    capture = ctx.socket(zmq.ROUTER)          # listens where n1 would: sees n0's pings
    capture.setsockopt(zmq.LINGER, 0)
    capture.bind(f"tcp://127.0.0.1:{n1.spec['config']['port']}")
    replay = ctx.socket(zmq.DEALER)
    replay.setsockopt(zmq.LINGER, 0)
    try:
        await asyncio.gather(n0.start(), n2.start())
        frames = await asyncio.wait_for(_captured_ping(capture, "n0"), 10.0)
        capture.close(0)
        await n0.kill()
        await n0.start()
        await cluster.leader(among=[n0, n2])
        replay.connect(f"tcp://127.0.0.1:{n0.spec['config']['port']}")
        await replay.send_multipart(frames)
        answer = await asyncio.wait_for(replay.recv_multipart(), 5.0)
        assert Header.decode(answer[0]).type is MsgType.ACK      # accepted, judged, answered
        await asyncio.sleep(1.0)                 # longer than the old leave grace
        status = await n0.status()
        assert status["self"]["conflict"] == "", status["self"]
        assert status["bus"]["claims_unproven"] == 1
        sent = await n0.call("notify", kind="api_key", item="after-replay")
        assert sent["acks"] == {"n1": False, "n2": True}       # n1 is not running
        assert (await n0.call("lock", name="after-replay"))["ok"]
    finally:
        ctx.destroy(0)
        await cluster.close()


async def _captured_ping(capture: zmq.asyncio.Socket, sender: str) -> list[bytes]:
    while True:
        _, *frames = await capture.recv_multipart()
        header = Header.decode(frames[0])
        if header.type is MsgType.PING and header.sender == sender:
            return frames
