"""HTTP to the gateway nodes and the fake upstream, by container address, and bounded load."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.chaos.stack import ADMIN_TOKEN, NODES, Stack

PORT = 8080


@dataclass(frozen=True, slots=True)
class Answer:
    status: int          # 0: no HTTP answer (refused, reset, timed out)
    body: Any


class Gateway:
    """Admin and gateway calls to any node; addresses are looked up again after each fault."""

    def __init__(self, stack: Stack, session: aiohttp.ClientSession) -> None:
        self.stack, self.session = stack, session
        self.addresses: dict[str, str | None] = {}
        self.api_key = ""

    async def refresh(self) -> None:
        for node in (*NODES, "fake-upstream"):
            self.addresses[node] = await self.stack.address(node)

    def url(self, node: str, path: str, port: int = PORT) -> str:
        address = self.addresses.get(node)
        if address is None:
            raise ConnectionError(f"{node} has no address")
        return f"http://{address}:{port}{path}"

    async def call(self, method: str, node: str, path: str, *, json: Any = None,
                   token: str = ADMIN_TOKEN, timeout: float = 10.0) -> Answer:
        try:
            async with self.session.request(
                method, self.url(node, path), json=json,
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                text = await resp.text()
                try:
                    body: Any = await resp.json(content_type=None)
                except ValueError:
                    body = text
                return Answer(resp.status, body)
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            return Answer(0, repr(exc))

    async def cluster(self, node: str, timeout: float = 3.0) -> dict[str, Any] | None:
        answer = await self.call("GET", node, "/api/v1/cluster", timeout=timeout)
        return answer.body if answer.status == 200 and isinstance(answer.body, dict) else None

    async def ready(self, node: str, timeout: float = 3.0) -> Answer:
        return await self.call("GET", node, "/ready", timeout=timeout)

    async def leader(self, among: tuple[str, ...] = NODES) -> str | None:
        """The service name of the Raft leader, as the first answering node sees it."""
        for node in among:
            status = await self.cluster(node)
            if status and status.get("leader"):
                return str(status["leader"]).split(".", 1)[0]
        return None

    async def rotate(self, node: str, passphrase: str | None = None,
                     timeout: float = 90.0) -> Answer:
        body = {} if passphrase is None else {"encryption_key": passphrase}
        return await self.call("POST", node, "/api/v1/settings/rotate-key", json=body,
                               timeout=timeout)

    async def chat(self, node: str, model: str, prompt: str, timeout: float = 5.0) -> Answer:
        body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        return await self.call("POST", node, "/v1/chat/completions", json=body,
                               token=self.api_key, timeout=timeout)

    async def recorded_auth(self, prompt: str) -> str | None:
        """The Authorization the fake upstream received with ``prompt``."""
        try:
            async with self.session.get(
                self.url("fake-upstream", "/_recorded", port=8000), params={"prompt": prompt},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp:
                if resp.status != 200:
                    return None
                data = await resp.json()
                return str(data["authorization"])
        except (aiohttp.ClientError, TimeoutError):
            return None


def reply_ok(answer: Answer, prompt: str) -> bool:
    """A 200 chat completion whose text is the fake's echo of ``prompt``."""
    if answer.status != 200 or not isinstance(answer.body, dict):
        return False
    try:
        return bool(answer.body["choices"][0]["message"]["content"] == f"echo: {prompt}")
    except (KeyError, IndexError, TypeError):
        return False


@dataclass
class Load:
    """Steady gateway traffic, round-robin over ``nodes``, bounded in time and count.

    ``rate`` requests per second in total; at most ``max_requests`` and ``max_seconds``.
    Every outcome is kept as (start time, node, ok).
    """

    gateway: Gateway
    model: str
    nodes: tuple[str, ...] = NODES
    rate: float = 12.0
    max_requests: int = 1500
    max_seconds: float = 120.0
    timeout: float = 4.0
    outcomes: list[tuple[float, str, bool]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _one(self, node: str) -> None:
        started = time.monotonic()
        prompt = f"load {uuid.uuid4().hex[:12]}"
        try:
            answer = await self.gateway.chat(node, self.model, prompt, timeout=self.timeout)
            ok = reply_ok(answer, prompt)
        except ConnectionError:
            ok = False
        self.outcomes.append((started, node, ok))

    async def _run(self) -> None:
        began = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        sent = 0
        while not self._stop.is_set() and sent < self.max_requests \
                and time.monotonic() - began < self.max_seconds:
            node = self.nodes[sent % len(self.nodes)]
            task = asyncio.get_running_loop().create_task(self._one(node))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0 / self.rate)
        if pending:
            await asyncio.gather(*pending)

    def rate_between(self, start: float, end: float, nodes: tuple[str, ...]) -> tuple[int, int]:
        """(ok, total) of requests started in [start, end) to ``nodes``."""
        picked = [ok for t, node, ok in self.outcomes if start <= t < end and node in nodes]
        return sum(picked), len(picked)
