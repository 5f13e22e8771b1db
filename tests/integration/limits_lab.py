"""Load and ground-truth checks for the limits test: many clients, one upstream ledger.

:class:`Load` runs concurrent client loops per key against random nodes (streamed and not),
each request carrying a fresh ``id=<hex>`` in its prompt so the upstream's ledger can be joined
to what the client saw. A 429 is checked on the spot (OpenAI's error shape, ``Retry-After``)
and retried after a short sleep.

Which window admitted a request? The node tags every answer of a limited key with
``x-ratelimit-reset-requests`` (time to the end of the window its slice belongs to), taken in
the same step as the admission. Admission happened between the client's send and the
upstream's arrival, so ``sent + reset`` and ``arrival + reset`` bracket the window's end, which
lies on a minute boundary: windows are 60 s apart, the bracket is a few seconds wide, so the
tag names one window. A request without a tag (its node was killed before answering, or the
client gave up) may belong to any window its ``[sent, arrival]`` interval meets;
:func:`over_cap` then asks whether *any* assignment keeps every window within the cap, which
never blames the gateway for the test's uncertainty. All clocks are one machine's wall clock
(the database's ``clock_timestamp()`` included).
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson

from tests.fakes.ledger_upstream import Entry
from tests.integration.harness import GatewayNode

WINDOW = 60.0
RESET = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_reset(text: str) -> float | None:
    """Seconds in OpenAI's reset format (``250ms``, ``7s``, ``1m30s``, ``2h0m5s``)."""
    found = RESET.match(text)
    if not text or found is None:
        return None
    h, m, s, ms = (int(part) if part else 0 for part in found.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def window_of(moment: float) -> float:
    """Start of the minute window holding epoch second ``moment``."""
    return math.floor(moment / WINDOW) * WINDOW


@dataclass(slots=True)
class Attempt:
    """One request as the client saw it."""

    tag: str
    node: str
    stream: bool
    sent: float
    status: int = 0
    window: float | None = None  # start of the window the node tagged
    error: str = ""


@dataclass
class Load:
    """Client loops: ``clients`` per key tag, posting ``models[tag]`` to random ``nodes``."""

    nodes: Sequence[GatewayNode]
    keys: dict[str, str]  # tag -> gateway key
    models: dict[str, str]  # tag -> model name
    limits: dict[str, str]  # tag -> the name of the key's binding limit
    max_tokens: dict[str, int] = field(default_factory=dict)  # tag -> max_tokens sent, if any
    clients: int = 200
    attempts: dict[str, Attempt] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    stop_at: float = math.inf

    async def run(self, until: float) -> None:
        """Run every loop until epoch second ``until``; in-flight requests finish."""
        self.stop_at = until
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            loops = [self._loop(session, tag, random.Random(f"{tag}-{i}"))
                     for tag in self.keys for i in range(self.clients)]
            await asyncio.gather(*loops)

    async def _loop(self, session: aiohttp.ClientSession, tag: str, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, 0.5))  # no thundering start
        while time.time() < self.stop_at:
            pause = await self._one(session, tag, rng)
            if pause:
                await asyncio.sleep(pause)

    async def _one(self, session: aiohttp.ClientSession, tag: str, rng: random.Random) -> float:
        """One request; how long to sleep before the next."""
        node = rng.choice(self.nodes)
        stream = rng.random() < 0.5
        rid = uuid.uuid4().hex
        prompt = f"id={rid} " + "x" * rng.randint(20, 400)
        body: dict[str, object] = {"model": self.models[tag], "stream": stream,
                                   "messages": [{"role": "user", "content": prompt}]}
        if tag in self.max_tokens:
            body["max_tokens"] = self.max_tokens[tag]
        attempt = self.attempts[rid] = Attempt(tag, node.name, stream, time.time())
        try:
            async with session.post(node.url + "/v1/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {self.keys[tag]}"},
                                    timeout=aiohttp.ClientTimeout(total=15)) as resp:
                attempt.status = resp.status
                reset = resp.headers.get("x-ratelimit-reset-requests") or resp.headers.get(
                    "x-ratelimit-reset-tokens", "")
                attempt.window = self._tagged(attempt, reset)
                raw = await resp.read()
                retry_after = resp.headers.get("Retry-After", "")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            attempt.error = type(exc).__name__
            return rng.uniform(0.05, 0.2)
        if attempt.status == 200:
            done = b"[DONE]" in raw if stream else b'"choices"' in raw
            if not done:
                self.problems.append(f"{rid}: 200 without a whole answer: {raw[-200:]!r}")
            return 0.0
        if attempt.status == 429:
            self._check_refusal(attempt, raw, retry_after, self.limits[tag])
            return rng.uniform(0.5, 1.5)
        return rng.uniform(0.1, 0.3)  # 503 while the database restarts; others are counted

    def _tagged(self, attempt: Attempt, reset: str) -> float | None:
        seconds = parse_reset(reset)
        if seconds is None:
            return None
        # The tag is rounded up to whole seconds: the window ends in (tag - 1, tag] from the
        # admission, which lies in [sent, now].
        middle = (attempt.sent + time.time()) / 2 + seconds - 0.5
        return window_of(middle + WINDOW / 2) - WINDOW

    def _check_refusal(self, attempt: Attempt, raw: bytes, retry_after: str,
                       limit_name: str) -> None:
        try:
            error = orjson.loads(raw)["error"]
            shaped = (error["code"] == "rate_limit_exceeded" and isinstance(error["type"], str)
                      and "param" in error and limit_name in error["message"])
        except (ValueError, KeyError, TypeError):
            shaped = False
        if not shaped:
            self.problems.append(f"429 not in OpenAI's shape: {raw[:300]!r}")
        now = time.time()
        limit = window_of(now) + WINDOW - attempt.sent + 1
        if not retry_after.isdigit() or not 1 <= int(retry_after) <= limit:
            self.problems.append(f"Retry-After {retry_after!r} (window ends in {limit - 1:.1f} s)")


def candidates(entry: Entry, attempt: Attempt) -> tuple[list[float], str]:
    """Windows that may have admitted ``entry``, and a problem ("" when none): the tagged
    window must overlap the interval the admission happened in."""
    if attempt.window is not None:
        start = attempt.window
        if attempt.sent >= start + WINDOW or entry.arrival < start:
            return [start], (f"tagged {start:.0f} but sent {attempt.sent:.3f}, arrived "
                             f"{entry.arrival:.3f}")
        return [start], ""
    first, last = window_of(attempt.sent), window_of(entry.arrival)
    return [first + WINDOW * i for i in range(round((last - first) / WINDOW) + 1)], ""


def over_cap(options: list[list[float]], cap: int) -> list[float]:
    """Windows that must exceed ``cap`` whatever window each request is given from its
    options (consecutive windows): earliest-deadline-first, which is optimal for intervals."""
    by_start: dict[float, list[float]] = defaultdict(list)  # first option -> last options
    for opts in options:
        by_start[opts[0]].append(opts[-1])
    waiting: list[float] = []
    over: list[float] = []
    for window in sorted({w for opts in options for w in opts}):
        waiting += by_start.get(window, [])
        waiting.sort()
        must = sum(1 for last in waiting if last <= window)
        if must > cap:
            over.append(window)
        waiting = waiting[max(must, min(cap, len(waiting))):]
    return over


def definite(options: list[list[float]],
             weights: Sequence[int] | None = None) -> Counter[float]:
    """Requests (or their ``weights``: tokens) per window that could only have been admitted
    in that window."""
    found: Counter[float] = Counter()
    for i, opts in enumerate(options):
        if len(opts) == 1:
            found[opts[0]] += 1 if weights is None else weights[i]
    return found


@dataclass
class Grouped:
    """The kept ledger entries joined to what their clients saw: each one's candidate
    windows and output tokens (in ledger order), and the problems found joining them."""

    options: list[list[float]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def grouped(ledger: Sequence[Entry], attempts: dict[str, Attempt],
            keep: Callable[[Entry], bool]) -> Grouped:
    found = Grouped()
    for entry in ledger:
        if not keep(entry):
            continue
        attempt = attempts.get(entry.request_id)
        if attempt is None:
            found.problems.append(f"the upstream saw a request no client sent: {entry}")
            continue
        opts, problem = candidates(entry, attempt)
        if problem:
            found.problems.append(problem)
        found.options.append(opts)
        found.tokens.append(entry.output_tokens)
    seen = Counter(entry.request_id for entry in ledger if keep(entry))
    found.problems += [f"request {rid} reached the upstream {n} times"
                       for rid, n in seen.items() if n > 1]
    return found
