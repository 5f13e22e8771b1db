"""Several serving processes per node: a supervisor (``supervisor.py``) and its workers.

``server.workers: 1`` is the single-process node, with none of this. With more, the process
``atgw serve`` starts becomes the supervisor: it runs the node's one cluster agent and starts
the workers (``atgw worker``, not for people to run), which share the node's port and talk to
it over a local ZeroMQ channel (``channel.py``; the supervisor's end is ``hub.py``, a
worker's is ``link.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from node.state import GATEWAY, WORKER_LINK
from node.workers.link import WorkerLink


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Which worker of how many this process is, and where its supervisor listens."""

    index: int
    count: int
    control: str

    @property
    def name(self) -> str:
        return f"w{self.index}"


async def worker_ctx(worker: WorkerSpec, node_name: str, app: web.Application
                     ) -> AsyncIterator[None]:
    """Cleanup context: the worker's link to its supervisor in place of a cluster agent."""
    gateway = app[GATEWAY]
    link = WorkerLink(worker.control, worker.name, gateway, node_name)
    await link.start()
    gateway.cluster = link
    app[WORKER_LINK] = link
    try:
        yield
    finally:
        gateway.cluster = None
        await link.close()


__all__ = ["WorkerLink", "WorkerSpec", "worker_ctx"]
