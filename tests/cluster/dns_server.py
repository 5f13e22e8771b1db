"""A local DNS server (dnslib) that answers like CoreDNS for a headless Service.

``HeadlessService("at-headless.ns.svc.test")`` with a mutable ``pods`` dict (pod name -> IP):

- SRV on the service name: one answer per pod (target = pod FQDN) plus additional A records;
- A on the service name: every pod IP; NXDOMAIN when there are no pods (no endpoints);
- A on a pod FQDN: its IP, NXDOMAIN for a pod that does not exist (yet);
- AAAA: NODATA (an IPv4-only cluster).

With ``srv=False`` the service has A records only (compose ``--scale``, Nomad or Consul DNS): SRV
is NODATA and nothing names the members, so discovery knows them by address alone.

``DnsServer`` runs it on 127.0.0.1 (UDP) in a thread; ``with DnsServer(service) as port: ...``.
"""

from __future__ import annotations

import threading
from typing import Any

from dnslib import AAAA, QTYPE, RCODE, RR, SRV, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class HeadlessService(BaseResolver):  # type: ignore[misc]
    def __init__(self, fqdn: str, *, port: int = 5000, ttl: int = 1, srv: bool = True) -> None:
        self.fqdn = fqdn.rstrip(".")
        self.srv = srv
        self.port, self.ttl = port, ttl
        self.pods: dict[str, str] = {}
        self.queries = 0
        self._lock = threading.Lock()

    def set_pods(self, pods: dict[str, str]) -> None:
        with self._lock:
            self.pods = dict(pods)

    def pod_fqdn(self, pod: str) -> str:
        return f"{pod}.{self.fqdn}"

    def resolve(self, request: Any, handler: Any) -> Any:
        self.queries += 1
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            pods = dict(self.pods)
        by_fqdn = {self.pod_fqdn(p).lower(): ip for p, ip in pods.items()}
        if qname == self.fqdn.lower():
            if not pods:
                reply.header.rcode = RCODE.NXDOMAIN
            elif qtype == "SRV" and self.srv:
                for pod, ip in sorted(pods.items()):
                    target = DNSLabel(self.pod_fqdn(pod) + ".")
                    reply.add_answer(
                        RR(
                            request.q.qname,
                            QTYPE.SRV,
                            ttl=self.ttl,
                            rdata=SRV(0, 100, self.port, target),
                        )
                    )
                    reply.add_ar(RR(target, QTYPE.A, ttl=self.ttl, rdata=A(ip)))
            elif qtype == "A":
                for ip in sorted(pods.values()):
                    reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=self.ttl, rdata=A(ip)))
        elif qname in by_fqdn:
            if qtype == "A":
                reply.add_answer(
                    RR(request.q.qname, QTYPE.A, ttl=self.ttl, rdata=A(by_fqdn[qname]))
                )
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        _ = AAAA  # AAAA is always NODATA here: an IPv4-only cluster
        return reply


class DnsServer:
    def __init__(self, resolver: HeadlessService, port: int) -> None:
        self.port = port
        self.server = DNSServer(
            resolver,
            port=port,
            address="127.0.0.1",
            logger=DNSLogger(prefix=False, logf=lambda s: None),
        )

    def __enter__(self) -> int:
        self.server.start_thread()
        return self.port

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.server.server.server_close()
