"""The chaos suite's cluster (one compose project for the session) and its final table.

Needs a Docker engine and the images from ``compose/build.sh`` (``make chaos`` builds them).
The project ``atchaos`` is removed with its volumes before and after the session
(``CHAOS_KEEP=1`` leaves it running after a failure, for a look).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.chaos.client import Gateway
from tests.chaos.invariants import CONVERGE_BOUND, Row, healthy, wait_converged
from tests.chaos.stack import PASSPHRASE, Stack, run

RESULTS = pytest.StashKey[list[Row]]()
PROVIDERS = ("chaos-alpha", "chaos-beta", "chaos-gamma")
IMAGES = ("at-gateway:dev", "at-gateway-postgres:dev")


@dataclass
class Chaos:
    """What every scenario shares: the stack, the providers' keys and the gateway API key."""

    stack: Stack
    providers: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    passphrases: list[str] = field(default_factory=lambda: [PASSPHRASE])



async def _bring_up(chaos: Chaos) -> None:
    stack = chaos.stack
    missing = [i for i in IMAGES
               if not (await run("docker", "image", "inspect", i, check=False)).strip()]
    if missing:
        pytest.fail(f"images {missing} are missing: run compose/build.sh (make chaos does)")
    await stack.compose("down", "-v", "--remove-orphans", "-t", "5")
    await stack.compose("up", "-d", timeout=300)
    async with aiohttp.ClientSession() as session:
        gw = Gateway(stack, session)
        took, why = await wait_converged(gw, stack, time.monotonic(), bound=120)
        if took is None:
            pytest.fail(f"the compose cluster did not form: {why}\n"
                        f"{await stack.compose('logs', '--no-color', '--tail=40')}")
        answer = await gw.call("POST", "at-0", "/api/v1/tokens", json={"name": "chaos"})
        assert answer.status == 201, answer
        chaos.api_key = answer.body["key"]
        for name in PROVIDERS:
            api_key = f"sk-chaos-{name}-{secrets.token_hex(12)}"
            body = {"key": name, "type": "openai", "base_url": "http://fake-upstream:8000/v1",
                    "api_key": api_key, "model": "fake-model",
                    "models": ["fake-model", "fake-model-large"], "timeout": "10s"}
            answer = await gw.call("POST", "at-1", "/api/v1/providers", json=body)
            assert answer.status == 201, answer
            chaos.providers[name] = api_key


@pytest.fixture(scope="session")
def chaos() -> Iterator[Chaos]:
    state = Chaos(Stack())
    asyncio.run(_bring_up(state))
    failed = False
    try:
        yield state
    except BaseException:
        failed = True
        raise
    finally:
        if not (failed and os.environ.get("CHAOS_KEEP") == "1"):
            asyncio.run(state.stack.compose("down", "-v", "--remove-orphans", "-t", "5"))


@pytest.fixture
async def gw(chaos: Chaos) -> AsyncIterator[Gateway]:
    """A gateway client; the cluster is healthy (all nodes ready, full mesh) when it starts."""
    async with aiohttp.ClientSession() as session:
        gateway = Gateway(chaos.stack, session)
        gateway.api_key = chaos.api_key
        # Setup, not an invariant: each scenario's own convergence is held to CONVERGE_BOUND
        # in its row. Between scenarios a slow machine gets twice that to settle (once, on a
        # VM half as fast as usual, at-0 had no leader 45 s after a scenario that had
        # converged in 12 s; the rerun passed).
        took, why = await wait_converged(gateway, chaos.stack, time.monotonic(),
                                         bound=2 * CONVERGE_BOUND)
        assert took is not None, f"the cluster is not healthy before the scenario: {why}"
        assert await healthy(gateway) is None
        yield gateway


@pytest.fixture
def table(request: pytest.FixtureRequest) -> list[Row]:
    return request.config.stash.setdefault(RESULTS, [])


def _fmt(row: Row) -> list[str]:
    held = "ALL" if row.ok else "BROKEN: " + ", ".join(k for k, v in row.checks.items() if not v)
    took = "-" if row.converge is None else f"{row.converge:.1f}s"
    return [row.scenario, row.fault, held, row.during, row.after, took]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    rows = config.stash.get(RESULTS, [])
    if not rows:
        return
    head = ["scenario", "fault", "invariants held", "ok during fault", "ok after", "converged"]
    lines = [head, *(_fmt(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    tr = terminalreporter
    tr.section("chaos scenarios")
    tr.write_line(f"invariants: credentials decrypt on every node (fake saw each provider's key), "
                  f"same key version on all nodes within {CONVERGE_BOUND:.0f}s, versions "
                  f"contiguous/+1 per committed rotation, no row under a retired key, nothing "
                  f"plain in pg_dump, 100% of requests after recovery")
    for i, line in enumerate(lines):
        tr.write_line("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
        if i == 0:
            tr.write_line("  ".join("-" * w for w in widths))
    for row in rows:
        if row.notes.strip():
            tr.write_line(f"{row.scenario}: {row.notes.strip()}")
        for problem in row.problems:
            tr.write_line(f"BROKEN {row.scenario}: {problem}", red=True, bold=True)
