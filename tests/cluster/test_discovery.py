"""Discovery against a local DNS server that behaves like a headless Service."""

from __future__ import annotations

import asyncio
import time

import pytest

from cluster.discovery import DnsDiscovery, StaticDiscovery
from cluster.errors import DiscoveryError

from .conftest import free_ports
from .dns_server import DnsServer, HeadlessService

SVC = "at-headless.ns.svc.test"


async def test_headless_service_scale_and_nxdomain() -> None:
    service = HeadlessService(SVC)
    port = free_ports(1)[0]
    with DnsServer(service, port):
        disco = DnsDiscovery(
            SVC, port=5000, raft_port=5001, server=f"127.0.0.1:{port}", names=(f"at-0.{SVC}",)
        )
        assert await disco.resolve() == []  # NXDOMAIN: no peers yet
        service.set_pods({"at-0": "10.0.0.10"})
        peers = await disco.resolve()
        assert [(p.name, p.host) for p in peers] == [(f"at-0.{SVC}", "10.0.0.10")]
        service.set_pods({"at-0": "10.0.0.10", "at-1": "10.0.0.11", "at-2": "10.0.0.12"})
        assert [p.name.split(".")[0] for p in await disco.resolve()] == ["at-0", "at-1", "at-2"]
        service.set_pods({"at-0": "10.0.0.20"})  # scale down, at-0 got a new IP
        peers = await disco.resolve()
        assert [(p.name.split(".")[0], p.host) for p in peers] == [("at-0", "10.0.0.20")]


async def test_names_asked_absolute_without_search() -> None:
    service = HeadlessService(SVC)
    service.set_pods({"at-0": "10.0.0.10"})
    port = free_ports(1)[0]
    with DnsServer(service, port):
        disco = DnsDiscovery(SVC + ".", port=5000, raft_port=5001, server=f"127.0.0.1:{port}")
        await disco.resolve()
        # SRV, A and AAAA of the service, A and AAAA of the one target: no search-list expansion.
        assert service.queries == 5


async def test_dns_down_raises_discovery_error() -> None:
    port = free_ports(1)[0]  # nobody listens there
    disco = DnsDiscovery(SVC, port=5000, raft_port=5001, server=f"127.0.0.1:{port}", timeout=0.2)
    started = time.monotonic()
    with pytest.raises(DiscoveryError):
        await disco.resolve()
    assert time.monotonic() - started < 2.0


async def test_static_discovery() -> None:
    peers = await StaticDiscovery(
        ("a=127.0.0.1:7000:7001", "b"), port=5000, raft_port=5001
    ).resolve()
    assert [(p.name, p.port, p.raft_port) for p in peers] == [("a", 7000, 7001), ("b", 5000, 5001)]
    await asyncio.sleep(0)
