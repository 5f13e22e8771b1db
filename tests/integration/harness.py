"""Real ``atgw serve`` processes on loopback, one shared Postgres, DNS like a headless Service.

``GatewayCluster`` writes one config file per node and runs each node as a subprocess
(``python -m node serve --config X --name at-i``). With ``dns=True`` every node has its own
loopback address (127.a.b.i) and the same HTTP, bus and Raft ports, exactly like pods behind a
headless Service: a dnslib server answers SRV/A for the service and A for each pod FQDN, and
the node names are the StatefulSet pod names (``at-0``..) and each advertises its pod FQDN, as
the Helm chart does, so identities are names, never IPs.
With ``dns=False`` the nodes share 127.0.0.1 and use a static ``cluster.peers`` list.

Processes are managed synchronously (Popen) so a module-scoped fixture can own them; every
wait is a poll with a deadline. Node output goes to one log file per node; ``tail()`` shows it
when an assertion needs context.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.cluster.dns_server import DnsServer, HeadlessService

REPO = Path(__file__).resolve().parents[2]
ADMIN = "integration-admin-token-0123456789"
SECRET = "integration-cluster-secret-0123456789"
PASSPHRASE = "integration-passphrase-0123456789"
FQDN = "at-headless.integration.svc.test"
CHAT = {"model": "demo/mock-1", "messages": [{"role": "user", "content": "hi"}]}
RECONCILE = 1.0


def _ports_free(ips: list[str], ports: list[int]) -> bool:
    socks: list[socket.socket] = []
    try:
        for ip in ips:
            for port in ports:
                s = socket.socket()
                socks.append(s)
                s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_ports(ips: list[str], n: int) -> list[int]:
    """``n`` TCP ports free on every address in ``ips`` (distinct from each other)."""
    for _ in range(50):
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.bind((ips[0], 0))
            socks.append(s)
        ports = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
        if _ports_free(ips, ports):
            return ports
    raise RuntimeError("no free ports")


def loopback_ips(n: int) -> list[str]:
    """``n`` addresses in a random 127.a.b.0/24, so parallel runs do not meet."""
    a, b = random.randint(16, 250), random.randint(1, 250)
    return [f"127.{a}.{b}.{i + 10}" for i in range(n)]


class GatewayNode:
    """One ``atgw serve`` process; restartable with another environment."""

    def __init__(self, name: str, ip: str, http_port: int, config: dict[str, Any],
                 workdir: Path) -> None:
        self.name, self.ip, self.http_port = name, ip, http_port
        self.config = config
        self.config_path = workdir / f"{name}.json"
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.wrapper: list[str] = []        # e.g. ["ip", "netns", "exec", "ns0"]
        self.write_config()

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.http_port}"

    def write_config(self) -> None:
        self.config_path.write_text(json.dumps(self.config, indent=1))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, env: dict[str, str] | None = None) -> None:
        assert not self.alive, f"{self.name} is already running"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("AT_")}
        clean.update(env or {})
        clean["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            log.write(f"---- start {time.strftime('%X')} env={env or {}}\n".encode())
            self.proc = subprocess.Popen(
                [*self.wrapper, sys.executable, "-m", "node", "serve",
                 "--config", str(self.config_path), "--name", self.name],
                cwd=REPO, env=clean, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.paused = False

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)   # the node's workers too (its own session)
            if sig == signal.SIGSTOP:
                self.paused = True
            elif sig == signal.SIGCONT:
                self.paused = False

    def kill(self) -> None:
        """SIGKILL (a crash) and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)    # the node's workers too
                os.killpg(self.proc.pid, signal.SIGCONT)
        self.proc.wait(10)
        self.paused = False

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return f"== {self.name} ==\n" + "\n".join(text.splitlines()[-lines:])


def node_config(*, ip: str, http_port: int, dsn: str, schema: str, cluster: dict[str, Any],
                passphrase: str = PASSPHRASE, workers: int = 1) -> dict[str, Any]:
    """One node's at.yaml (JSON is YAML): mock provider, Postgres store, cluster section."""
    return {
        "server": {"host": ip, "port": http_port, "admin_token": ADMIN, "workers": workers,
                   "log_level": os.environ.get("IT_LOG_LEVEL", "warning"),
                   "log_format": "json", "usage_flush_interval": "200ms",
                   "shutdown_timeout": "1s"},
        "providers": {"demo": {"type": "mock"}},
        "store": {"encryption_key": passphrase,
                  "postgres": {"datasource": dsn, "schema": schema, "max_open_conns": 4}},
        "cluster": {"security": {"key": SECRET}, "reconcile_interval": f"{RECONCILE}s",
                    "dns_interval": "500ms", "replicas": 3, **cluster},
    }


class GatewayCluster:
    """``n`` nodes on one Postgres schema, discovered by DNS (default) or a static list."""

    def __init__(self, dsn: str, *, n: int = 3, dns: bool = True, workdir: Path | None = None,
                 schema: str | None = None, workers: int = 1) -> None:
        self.dsn, self.workers = dsn, workers
        self.schema = schema or "it_" + uuid.uuid4().hex[:10]
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="at-it-"))
        self.dns = dns
        self.service = HeadlessService(FQDN)
        self.dns_server: DnsServer | None = None
        self.nodes: list[GatewayNode] = []
        if dns:
            ips = loopback_ips(n + 1)                  # one spare address for an extra node
            self.ips = ips
            http, bus, raft, dns_port = free_ports([*ips, "127.0.0.1"], 4)
            self.dns_port, self.ports = dns_port, (http, bus, raft)
            for i in range(n):
                self.nodes.append(self._dns_node(f"at-{i}", ips[i]))
        else:
            ports = free_ports(["127.0.0.1"], 3 * n)
            peers = [f"n{i}=127.0.0.1:{ports[3 * i + 1]}:{ports[3 * i + 2]}" for i in range(n)]
            for i in range(n):
                cluster = {"peers": peers, "bind_addr": "127.0.0.1", "port": ports[3 * i + 1],
                           "raft_port": ports[3 * i + 2]}
                config = node_config(ip="127.0.0.1", http_port=ports[3 * i], dsn=dsn,
                                     schema=self.schema, cluster=cluster, workers=workers)
                self.nodes.append(GatewayNode(f"n{i}", "127.0.0.1", ports[3 * i], config,
                                              self.workdir))

    def _dns_node(self, name: str, ip: str, **cluster: Any) -> GatewayNode:
        http, bus, raft = self.ports
        section = {"dns_addr": FQDN, "dns_server": f"127.0.0.1:{self.dns_port}",
                   "bind_addr": ip, "advertise": f"{name}.{FQDN}", "port": bus,
                   "raft_port": raft, **cluster}
        config = node_config(ip=ip, http_port=http, dsn=self.dsn, schema=self.schema,
                             cluster=section, workers=self.workers)
        return GatewayNode(name, ip, http, config, self.workdir)

    def extra_node(self, name: str, *, security_key: str) -> GatewayNode:
        """A node on the spare address (not started, not in DNS yet) with its own secret."""
        node = self._dns_node(name, self.ips[-1])
        node.config["cluster"]["security"]["key"] = security_key
        node.write_config()
        return node

    def set_providers(self, providers: dict[str, dict[str, Any]]) -> None:
        """Replace every node's ``providers`` section (before the nodes start)."""
        for node in self.nodes:
            node.config["providers"] = providers
            node.write_config()

    def publish(self, extra: list[GatewayNode] | None = None) -> None:
        """Put the nodes (and ``extra``) into DNS as the Service's pods."""
        self.service.set_pods({n.name: n.ip for n in [*self.nodes, *(extra or [])]})

    def start(self, envs: dict[str, dict[str, str]] | None = None) -> None:
        """Start the DNS server (if any) and every node (``envs``: extra env per node name)."""
        if self.dns:
            self.dns_server = DnsServer(self.service, self.dns_port)
            self.dns_server.__enter__()
            self.publish()
        for node in self.nodes:
            node.start((envs or {}).get(node.name))

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        if self.dns_server is not None:
            self.dns_server.__exit__(None, None, None)
            self.dns_server = None
        if not os.environ.get("IT_KEEP_LOGS"):          # failures already quote the tails
            shutil.rmtree(self.workdir, ignore_errors=True)

    def node(self, name: str) -> GatewayNode:
        return next(n for n in self.nodes if n.name == name)

    def tails(self) -> str:
        return "\n".join(n.tail() for n in self.nodes)


class Client:
    """HTTP against the nodes (one aiohttp session; short per-request timeouts)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.admin = {"Authorization": f"Bearer {ADMIN}"}

    async def call(self, node: GatewayNode, method: str, path: str, body: Any = None, *,
                   headers: dict[str, str] | None = None, timeout: float = 5.0,
                   admin: bool = True) -> tuple[int, Any]:
        hdrs = {**(self.admin if admin else {}), **(headers or {})}
        async with self.session.request(
            method, node.url + path, json=body, headers=hdrs,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            raw = await resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    async def status(self, node: GatewayNode) -> dict[str, Any]:
        code, data = await self.call(node, "GET", "/api/v1/cluster", timeout=2.0)
        assert code == 200, (node.name, code, data)
        result: dict[str, Any] = data
        return result

    async def try_status(self, node: GatewayNode) -> dict[str, Any] | None:
        try:
            return await self.status(node)
        except (aiohttp.ClientError, TimeoutError, AssertionError):
            return None

    async def ready(self, node: GatewayNode) -> tuple[int, Any]:
        return await self.call(node, "GET", "/ready", admin=False, timeout=2.0)

    async def chat(self, node: GatewayNode, key: str, timeout: float = 5.0) -> int:
        code, _ = await self.call(node, "POST", "/v1/chat/completions", CHAT, admin=False,
                                  headers={"Authorization": f"Bearer {key}"}, timeout=timeout)
        return code

    async def new_key(self, node: GatewayNode, name: str = "it") -> tuple[str, str]:
        code, data = await self.call(node, "POST", "/api/v1/tokens", {"name": name})
        assert code == 201, (code, data)
        return str(data["id"]), str(data["key"])

    async def rotate(self, node: GatewayNode, timeout: float = 20.0) -> tuple[int, Any]:
        return await self.call(node, "POST", "/api/v1/settings/rotate-key", {},
                               timeout=timeout)

    async def put_provider(self, node: GatewayNode, key: str, api_key: str) -> tuple[int, Any]:
        body = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                "api_key": api_key}
        return await self.call(node, "PUT", f"/api/v1/providers/{key}", body)


async def until(check: Callable[[], Awaitable[Any]], timeout: float, what: str,
                interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)


async def wait_ready(client: Client, nodes: list[GatewayNode], timeout: float = 30.0) -> None:
    async def one(node: GatewayNode) -> None:
        async def check() -> bool:
            if not node.alive:
                raise AssertionError(f"{node.name} exited\n{node.tail()}")
            return (await client.ready(node))[0] == 200
        await until(check, timeout, f"{node.name} ready")
    await asyncio.gather(*(one(n) for n in nodes))


async def agreed_leader(client: Client, nodes: list[GatewayNode], timeout: float = 20.0,
                        interval: float = 0.05, exclude: str = "") -> str:
    """Wait until every node in ``nodes`` reports the same leader (not ``exclude``, a short
    name) and a quorum."""
    async def check() -> str | None:
        states = await asyncio.gather(*(client.try_status(n) for n in nodes))
        if any(s is None for s in states):
            return None
        leaders = {s["leader"] for s in states if s is not None}
        if len(leaders) == 1 and None not in leaders and short(str(*leaders)) != exclude and all(
                s is not None and s["has_quorum"] for s in states):
            return str(leaders.pop())
        return None
    result: str = await until(check, timeout, "an agreed leader", interval)
    return result


async def bus_meshed(client: Client, nodes: list[GatewayNode], timeout: float = 10.0) -> None:
    """Wait until a change notice from every node is acknowledged by every other node.

    Raft agreeing on a leader, or a peer answering pings, does not prove that a node's
    DEALER towards a restarted peer has reconnected (ZeroMQ backs off up to 2 s); a notice
    sent before that is not delivered (its ack is False; the peer catches up by reconciling).
    """
    code, made = await client.call(nodes[0], "POST", "/api/v1/tokens", {"name": "mesh-probe"})
    assert code == 201, made
    pending = list(nodes)

    async def check() -> bool:
        for node in list(pending):
            code, data = await client.call(node, "PATCH", f"/api/v1/tokens/{made['id']}",
                                           {"name": f"mesh-{node.name}"})
            if code == 200 and len(data["peers"]) == len(nodes) - 1 and all(
                    data["peers"].values()):
                pending.remove(node)
        return not pending

    try:
        await until(check, timeout, "notices acknowledged by every peer", interval=0.1)
    finally:
        await client.call(nodes[0], "DELETE", f"/api/v1/tokens/{made['id']}")


def short(name: str) -> str:
    """``at-1`` for ``at-1.at-headless...`` (leader and peer names are FQDNs under DNS)."""
    return name.split(".", 1)[0]


async def key_versions(client: Client, nodes: list[GatewayNode]) -> dict[str, int]:
    states = await asyncio.gather(*(client.status(n) for n in nodes))
    return {n.name: int(s["self"]["key_version"]) for n, s in zip(nodes, states, strict=True)}


async def db_row(dsn: str, query: str, *args: Any) -> Any:
    """One row of plain SQL against the store's database (bypassing every node)."""
    import asyncpg

    conn = await asyncpg.connect(dsn.replace("postgres://", "postgresql://", 1))
    try:
        return await conn.fetchrow(query, *args)
    finally:
        await conn.close()


async def active_version(dsn: str, schema: str) -> int:
    row = await db_row(dsn, f'SELECT active_version FROM "{schema}"."at_key_state"')
    return int(row["active_version"])


async def provider_row_version(dsn: str, schema: str, key: str) -> int:
    row = await db_row(dsn, f'SELECT key_version FROM "{schema}"."at_providers" WHERE key = $1',
                       key)
    return int(row["key_version"])
