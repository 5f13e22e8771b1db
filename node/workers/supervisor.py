"""One node, several serving processes: the supervisor that starts, watches and drains them.

The supervisor opens the store (migrations, first-start secrets and the keyring happen once),
runs the node's one cluster agent, and starts ``server.workers`` worker processes. Each worker
binds the node's port with ``SO_REUSEPORT``, so the kernel spreads new connections across them
and a worker's death touches only its own connections; the supervisor holds the port number
meanwhile (bound, never listening: it takes no connections). A worker that dies is started
again after a short pause; one that keeps dying (``MAX_DEATHS`` within ``DEATH_WINDOW``) stops
the node with exit status 1, since a crash loop serving nothing must be seen, not hidden.
SIGTERM (or SIGINT) drains every worker; SIGHUP is passed on (certificate reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass

import structlog

from node.bootstrap import bootstrap
from node.config import Settings, cluster_config, store_config
from node.errors import ConfigError
from node.workers.hub import Hub, Worker
from store import FAULT_EXIT, Store, open_store

log = structlog.get_logger("node.workers.supervisor")

MAX_DEATHS = 5
DEATH_WINDOW = 60.0
RESTART_PAUSE = 0.5
TICK = 1.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start a worker: the node's own command line, told which worker it is."""

    config: str | None
    host: str
    port: int
    name: str


def _die_with_parent() -> None:
    """In the child before exec: a SIGKILLed supervisor takes its workers with it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """See the module docstring."""

    def __init__(self, settings: Settings, launch: Launch, count: int) -> None:
        self.settings, self.launch, self.count = settings, launch, count
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._deaths: deque[float] = deque()
        self._stopping = asyncio.Event()
        self._failed = ""
        self._watchers: set[asyncio.Task[None]] = set()

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0) or until workers keep dying (1)."""
        rundir = tempfile.mkdtemp(prefix="atgw-")      # mode 0700: the channel's only guard
        holder = _hold_port(self.launch.host, self.launch.port)
        port = holder.getsockname()[1]
        store = await open_store(store_config(self.settings))
        hub = Hub(store, self.launch.name, f"ipc://{rundir}/control", self.count)
        try:
            await bootstrap(store, admin_token_configured=bool(self.settings.server.admin_token),
                            say=_say)
            config = cluster_config(self.settings)
            if store.needs_key_material and config is None:
                raise ConfigError(
                    "store.encryption_key: does not open the store's active key: the "
                    "passphrase was changed (rotate-key) since this node last ran; start it "
                    "with the current passphrase")
            await hub.channel.start()
            if config is not None:
                from cluster import ClusterAgent

                hub.agent = ClusterAgent(config, hub, node_name=self.launch.name,
                                         workers=self.count)
                await hub.agent.start()
            self._signals(hub)
            for worker in hub.workers.values():
                await self._start(hub, worker, rundir, port)
            log.info("supervising", workers=self.count, port=port, node=self.launch.name)
            await self._supervise(hub, store)
        finally:
            await self._drain()
            if hub.agent is not None:
                await hub.agent.stop()
            await hub.close()
            await store.close()
            holder.close()
            shutil.rmtree(rundir, ignore_errors=True)
        if self._failed:
            log.error("stopped: workers keep dying", reason=self._failed)
            return 1
        return 0

    def _signals(self, hub: Hub) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._pass_on, signal.SIGHUP)

    def _pass_on(self, sig: signal.Signals) -> None:
        for proc in self._procs.values():
            if proc.returncode is None:
                proc.send_signal(sig)

    async def _supervise(self, hub: Hub, store: Store) -> None:
        reconcile = float(self.settings.cluster_section.reconcile_interval) \
            if self.settings.cluster_section is not None else 5.0
        last = time.monotonic()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK)
            await hub.tick()
            hub.share_digest()
            if hub.agent is None and time.monotonic() - last >= reconcile:
                # Unclustered, nobody else sends the reconcile hint the agent's loop sends.
                last = time.monotonic()
                with contextlib.suppress(Exception):
                    await hub.on_key_version(store.key_version)

    async def _start(self, hub: Hub, worker: Worker, rundir: str, port: int) -> None:
        launch = self.launch
        argv = [sys.executable, "-m", "node", "worker", "--index", str(worker.index),
                "--workers", str(self.count), "--control", f"ipc://{rundir}/control",
                "--host", launch.host, "--port", str(port), "--name", launch.name]
        if launch.config:
            argv += ["--config", launch.config]
        proc = await asyncio.create_subprocess_exec(*argv, preexec_fn=_die_with_parent)
        self._procs[worker.name] = proc
        worker.pid, worker.started = proc.pid, time.time()
        task = asyncio.create_task(self._watch(hub, worker, proc, rundir, port))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch(self, hub: Hub, worker: Worker, proc: asyncio.subprocess.Process,
                     rundir: str, port: int) -> None:
        code = await proc.wait()
        hub.worker_gone(worker.name)
        if self._stopping.is_set():
            return
        if code == FAULT_EXIT and self.settings.store.rotation_fault:
            # The test-only rotation fault stands for the node being killed, not one worker:
            # end every process of the node the way SIGKILL would (no drain, no cleanup).
            log.error("worker hit the rotation fault; ending the node", worker=worker.name)
            for other in self._procs.values():
                if other.returncode is None:
                    other.kill()
            os._exit(FAULT_EXIT)
        now = time.monotonic()
        self._deaths.append(now)
        while self._deaths and now - self._deaths[0] > DEATH_WINDOW:
            self._deaths.popleft()
        log.error("worker died; starting it again", worker=worker.name, pid=proc.pid,
                  exit_status=code, deaths_in_window=len(self._deaths))
        if len(self._deaths) >= MAX_DEATHS:
            self._failed = f"{len(self._deaths)} worker deaths within {DEATH_WINDOW:g}s"
            self._stopping.set()
            return
        await asyncio.sleep(RESTART_PAUSE)
        if not self._stopping.is_set():
            worker.restarts += 1
            await self._start(hub, worker, rundir, port)

    async def _drain(self) -> None:
        """SIGTERM to every worker; each drains its requests and flushes its usage records
        within ``server.shutdown_timeout``; a worker still there after that is killed."""
        self._stopping.set()
        self._pass_on(signal.SIGTERM)
        grace = float(self.settings.server.shutdown_timeout) + 5.0
        procs = [p for p in self._procs.values() if p.returncode is None]
        if procs:
            _, late = await asyncio.wait([asyncio.create_task(p.wait()) for p in procs],
                                         timeout=grace)
            for proc in procs:
                if proc.returncode is None:
                    log.error("worker did not drain in time; killing it", pid=proc.pid)
                    proc.kill()
            if late:
                await asyncio.wait(late, timeout=5.0)
        for task in list(self._watchers):
            task.cancel()


def _hold_port(host: str, port: int) -> socket.socket:
    """Bind (never listen) the node's port with SO_REUSEPORT: it fixes the port number for
    every worker (``port: 0`` picks one) and keeps another program off it between restarts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"server.port: cannot bind {host}:{port}: {exc.strerror}") from None
    return sock


def _say(text: str) -> None:
    print(text, file=sys.stdout, flush=True)


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (a
    container given 2 CPUs on a 64-core host must not start 64 workers)."""
    count = len(os.sched_getaffinity(0))
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, int(-(-quota // 1))))
    return max(1, count)


def _cgroup_quota() -> float | None:
    """cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``/``cfs_period_us``: CPUs, or None."""
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            v1_quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            v1_period = int(f.read())
        return None if v1_quota <= 0 else v1_quota / v1_period
    return None
