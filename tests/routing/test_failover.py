"""Routes on a real node over killable fake upstreams: retries before the first byte, cool-downs
(Retry-After, backoff, one probe), tiers, timeouts, and what is never retried."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.fakes.flaky import FlakyUpstream
from tests.fakes.openai_upstream import Json, Sse, chat_chunks
from tests.node.harness import running_node
from tests.routing.conftest import chat, tree

Ups = tuple[FlakyUpstream, FlakyUpstream, FlakyUpstream]
TIERED = {"targets": [{"model": "a/m"}, {"model": "b/m", "priority": 2}]}


def rate_limited(seconds: int) -> Json:
    return Json({"error": {"message": "slow down", "type": "rate_limit"}}, 429,
                {"Retry-After": str(seconds)})


BOOM = Json({"error": {"message": "boom"}}, 500)


async def until(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_dead_target_under_load_no_client_error(ups: Ups,
                                                      session: aiohttp.ClientSession) -> None:
    a, _, _ = ups
    route = {"targets": [{"model": "a/m"}, {"model": "b/m"}], "cooldown": "300ms"}
    async with running_node(tree(ups, {"smart": route})) as node:
        statuses: list[int] = []
        served: list[str] = []
        killed = asyncio.Event()

        async def worker() -> None:
            for _ in range(25):
                status, _, headers = await chat(node, session, "smart")
                statuses.append(status)
                served.append(headers.get("x-at-provider", ""))
                if len(statuses) == 60 and not killed.is_set():
                    killed.set()
                    await a.kill()

        await asyncio.gather(*(worker() for _ in range(8)))
        assert len(statuses) == 200 and set(statuses) == {200}, statuses
        assert "a" in served[:60] and served[-40:] == ["b"] * 40
        plan = node.gateway.routes.get("smart")
        assert plan is not None and plan.targets[0].state.cooldowns >= 1
        # Back up: after its cool-down one probe finds it healthy, and it serves again.
        await a.restart()
        seen: list[str] = []

        async def a_serves() -> bool:
            seen.append((await chat(node, session, "smart"))[2]["x-at-provider"])
            return seen[-1] == "a"

        deadline = time.monotonic() + 20
        while not await a_serves():
            assert time.monotonic() < deadline, seen[-10:]
            await asyncio.sleep(0.05)


async def test_429_retry_after_sets_the_cool_down_and_one_probe_ends_it(
        ups: Ups, session: aiohttp.ClientSession) -> None:
    a, _, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.always = rate_limited(2)
        before = time.monotonic()
        status, _, headers = await chat(node, session, "smart")
        after = time.monotonic()
        assert status == 200
        assert (headers["x-at-provider"], headers["x-at-model"], headers["x-at-attempts"]) == (
            "b", "m", "2")
        plan = node.gateway.routes.get("smart")
        assert plan is not None
        state = plan.targets[0].state
        # Cooled down for the upstream's Retry-After (2 s), not the route's default 30 s.
        assert before + 2 <= state.until <= after + 2 and state.kind == "429"
        calls = len(a.requests)
        for _ in range(5):  # while it cools down, nothing is sent to it
            status, _, headers = await chat(node, session, "smart")
            assert (status, headers["x-at-provider"], headers["x-at-attempts"]) == (200, "b", "1")
        assert len(a.requests) == calls
        a.always = None
        await until(lambda: time.monotonic() > state.until + 0.01)
        status, _, headers = await chat(node, session, "smart")
        assert (status, headers["x-at-provider"], headers["x-at-attempts"]) == (200, "a", "1")
        assert len(a.requests) == calls + 1 and state.until == 0.0


async def test_a_failed_probe_cools_down_longer(ups: Ups,
                                                session: aiohttp.ClientSession) -> None:
    a, _, _ = ups
    route = {**TIERED, "cooldown": "200ms"}
    async with running_node(tree(ups, {"smart": route})) as node:
        a.always = BOOM
        plan = node.gateway.routes.get("smart")
        assert plan is not None
        state = plan.targets[0].state
        started = time.monotonic()
        assert (await chat(node, session, "smart"))[0] == 200
        first = state.until - started
        assert 0 < first <= 0.2 + (time.monotonic() - started)
        await until(lambda: time.monotonic() > state.until)
        probe_sent = time.monotonic()
        assert (await chat(node, session, "smart"))[2]["x-at-provider"] == "b"
        assert state.until - probe_sent >= 0.4  # doubled: 2 x 200 ms
        assert state.failures == 2


async def test_every_target_rate_limited_answers_429_with_the_earliest_retry_after(
        ups: Ups, session: aiohttp.ClientSession) -> None:
    a, b, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.always, b.always = rate_limited(30), rate_limited(3)
        status, body, headers = await chat(node, session, "smart")
        assert status == 429 and headers["Retry-After"] in ("2", "3")
        assert body["error"]["message"].endswith("slow down")
        assert headers["x-at-attempts"] == "2" and headers["x-at-provider"] == "b"
        calls = len(a.requests) + len(b.requests)
        # Everything cools down: answered at once, in the asking dialect, no upstream call.
        async with session.post(f"{node.url}/v1/messages", headers=node.auth(), json={
                "model": "smart", "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] in ("1", "2", "3")
            assert (await resp.json())["type"] == "error"
        assert len(a.requests) + len(b.requests) == calls


async def test_all_failing_answers_the_last_error(ups: Ups,
                                                  session: aiohttp.ClientSession) -> None:
    a, b, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.always = b.always = BOOM
        status, body, headers = await chat(node, session, "smart")
        assert status == 502 and "boom" in body["error"]["message"]
        assert headers["x-at-attempts"] == "2"
        status, body, _ = await chat(node, session, "smart")  # both cooling: no call at all
        assert status == 502 and len(a.requests) + len(b.requests) == 2


async def test_client_errors_are_not_retried(ups: Ups, session: aiohttp.ClientSession) -> None:
    a, b, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.push(Json({"error": {"message": "bad field"}}, 400))
        status, _, headers = await chat(node, session, "smart")
        assert status == 400 and headers["x-at-attempts"] == "1"
        assert headers["x-at-provider"] == "a" and b.requests == []
        plan = node.gateway.routes.get("smart")
        assert plan is not None and plan.targets[0].state.ready(time.monotonic())


async def test_retries_and_retry_on_bound_the_attempts(ups: Ups,
                                                       session: aiohttp.ClientSession) -> None:
    a, b, c = ups
    three = {"targets": [{"model": "a/m"}, {"model": "b/m", "priority": 2},
                         {"model": "c/m", "priority": 3}]}
    routes = {"one": {**three, "retries": 1}, "no429": {**three, "retry_on": ["5xx"]}}
    async with running_node(tree(ups, routes)) as node:
        a.always = b.always = BOOM
        status, _, headers = await chat(node, session, "one")
        assert status == 502 and headers["x-at-attempts"] == "2" and c.requests == []
        a.always = b.always = None
        routes_plan = node.gateway.routes.get("no429")
        assert routes_plan is not None
        for target in routes_plan.targets:
            target.state.succeeded(0.001)  # the test resets the cool-downs it caused
        a.push(rate_limited(1))
        status, _, headers = await chat(node, session, "no429")
        assert status == 429 and headers["x-at-attempts"] == "1"


async def test_priority_tiers(ups: Ups, session: aiohttp.ClientSession) -> None:
    a, b, c = ups
    route = {"targets": [{"model": "a/m"}, {"model": "b/m"}, {"model": "c/m", "priority": 2}]}
    async with running_node(tree(ups, {"smart": route})) as node:
        served = {(await chat(node, session, "smart"))[2]["x-at-provider"] for _ in range(30)}
        assert served == {"a", "b"} and c.requests == []
        a.always = b.always = BOOM
        for _ in range(5):
            status, _, headers = await chat(node, session, "smart")
            assert (status, headers["x-at-provider"]) == (200, "c")


async def test_route_timeout_moves_to_the_next_target(ups: Ups,
                                                      session: aiohttp.ClientSession) -> None:
    a, _, _ = ups
    async with running_node(tree(ups, {"smart": {**TIERED, "timeout": "300ms"}})) as node:
        a.delay = 5.0
        status, _, headers = await chat(node, session, "smart")
        assert (status, headers["x-at-provider"], headers["x-at-attempts"]) == (200, "b", "2")
        plan = node.gateway.routes.get("smart")
        assert plan is not None and plan.targets[0].state.kind == "timeout"


async def test_stream_retried_when_upstream_fails_before_its_first_event(
        ups: Ups, session: aiohttp.ClientSession) -> None:
    a, b, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.push(Sse(chat_chunks(["never"]), drop_after=0))
        status, text, headers = await chat(node, session, "smart", stream=True)
        assert status == 200 and headers["x-at-provider"] == "b"
        assert headers["x-at-attempts"] == "2" and "never" not in text
        assert 'fake."' in text and "[DONE]" in text and '"error"' not in text
        assert len(a.requests) == 1 and len(b.requests) == 1
        # A 5xx on opening the stream is retried too.
        plan = node.gateway.routes.get("smart")
        assert plan is not None
        plan.targets[0].state.succeeded(0.001)
        a.push(BOOM)
        status, text, headers = await chat(node, session, "smart", stream=True)
        assert (status, headers["x-at-provider"], headers["x-at-attempts"]) == (200, "b", "2")


async def test_stream_never_retried_after_its_first_event(
        ups: Ups, session: aiohttp.ClientSession) -> None:
    a, b, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.push(Sse(chat_chunks(["one", " two", " three"]), drop_after=2))
        status, text, headers = await chat(node, session, "smart", stream=True)
        assert status == 200 and headers["x-at-provider"] == "a"
        assert headers["x-at-attempts"] == "1"
        assert '"one"' in text and '"error"' in text  # relayed, then the failure as an event
        assert b.requests == []
