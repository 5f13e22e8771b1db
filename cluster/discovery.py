"""Finding the cluster's members: a static list, or DNS like a Kubernetes headless Service.

``Discovery.resolve()`` returns every member currently known, self included. DNS names are
always asked as absolute names (trailing dot) with the search list off, so Kubernetes'
``ndots:5`` costs nothing. NXDOMAIN and NODATA mean "no members yet" (the Service has no
endpoints, or the pod does not exist yet); only transport failures raise ``DiscoveryError``.
SRV answers, where the zone has them, name the pods (``at-1.at-headless.ns.svc.cluster.local``),
which keeps identities stable when IPs change; bare A/AAAA answers are named by their address.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from cluster.config import Peer, parse_peer
from cluster.errors import ConfigError, DiscoveryError

_EMPTY = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)
_FAILED = (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration)


class Discovery(Protocol):
    """Where the members are now."""

    async def resolve(self) -> list[Peer]:
        """Every member currently known (self included); may be empty."""
        ...


class StaticDiscovery:
    """The ``peers`` list from the configuration, parsed once."""

    def __init__(self, specs: tuple[str, ...], *, port: int, raft_port: int) -> None:
        self._peers = [parse_peer(spec, port, raft_port) for spec in specs]

    async def resolve(self) -> list[Peer]:
        """The configured members, unchanged."""
        return list(self._peers)


def absolute(name: str) -> str:
    """``name`` as an absolute DNS name (one trailing dot)."""
    return name.rstrip(".") + "."


class DnsDiscovery:
    """Members from ``dns_addr``: SRV targets where present, then A/AAAA addresses.

    ``names`` are extra pod names (the voters' FQDNs) resolved on every pass, so a voter is found
    even when the zone has no SRV records.
    """

    def __init__(self, dns_addr: str, *, port: int, raft_port: int, server: str = "",
                 names: tuple[str, ...] = (), timeout: float = 1.0) -> None:
        if not dns_addr:
            raise ConfigError("cluster.dns_addr: empty")
        self._addr, self._port, self._raft_port = absolute(dns_addr), port, raft_port
        self._server, self._timeout, self._names = server, timeout, names
        self._resolver: dns.asyncresolver.Resolver | None = None

    async def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self._server:
                host, _, port = self._server.rpartition(":")
                if not host or not port.isdigit():
                    raise ConfigError(f"cluster.dns_server: {self._server!r}: expected host:port")
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [dns.nameserver.Do53Nameserver(host.strip("[]"), int(port))]
            else:
                # Reading /etc/resolv.conf is file IO: keep it off the event loop.
                resolver = await asyncio.to_thread(dns.asyncresolver.Resolver)
            resolver.timeout, resolver.lifetime = self._timeout, 2 * self._timeout
            resolver.cache = None
            self._resolver = resolver
        return self._resolver

    async def _query(self, name: str, rdtype: str) -> dns.resolver.Answer | None:
        resolver = await self._get_resolver()
        try:
            return await resolver.resolve(name, rdtype, search=False, raise_on_no_answer=True)
        except _EMPTY:
            return None
        except _FAILED as exc:
            raise DiscoveryError(f"DNS {rdtype} {name}: {exc}") from exc

    async def _addresses(self, name: str) -> list[str]:
        answers = await asyncio.gather(self._query(name, "A"), self._query(name, "AAAA"))
        return sorted({rr.to_text() for answer in answers if answer is not None for rr in answer})

    async def resolve(self) -> list[Peer]:
        """One pass over SRV, A/AAAA and the extra names; a DNS failure raises DiscoveryError."""
        found: dict[str, str] = {}          # name -> address
        srv = await self._query(self._addr, "SRV")
        targets = sorted({str(rr.target) for rr in srv}) if srv is not None else []
        for target in targets:
            addresses = await self._addresses(target)
            if addresses:
                found[target.rstrip(".")] = addresses[0]
        for name in self._names:
            if name.rstrip(".") not in found:
                addresses = await self._addresses(absolute(name))
                if addresses:
                    found[name.rstrip(".")] = addresses[0]
        named = set(found.values())
        for address in await self._addresses(self._addr):
            if address not in named:
                found[address] = address
        return [Peer(name, host, self._port, self._raft_port)
                for name, host in sorted(found.items())]
