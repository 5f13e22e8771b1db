"""Target choice: weights honoured (statistically), least_busy by in-flight count, latency,
tiers, and the table's compile step over a real catalog."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp

from node.catalog import Catalog
from node.config import parse_settings
from node.routing import RouteTable, choose
from providers import ClientPool
from tests.fakes.flaky import FlakyUpstream
from tests.node.harness import running_node
from tests.routing.conftest import chat, tree

Ups = tuple[FlakyUpstream, FlakyUpstream, FlakyUpstream]


def table(routes: dict[str, Any]) -> RouteTable:
    settings = parse_settings({"providers": {k: {"type": "mock"} for k in "abc"},
                               "routes": routes, "store": {"memory": {}}})
    catalog = Catalog(ClientPool())
    catalog.load(settings.providers, {})
    out = RouteTable()
    out.load(settings.routes, {}, catalog)
    return out


def test_weights_within_two_percent_over_twenty_thousand_choices() -> None:
    plan = table({"r": {"targets": [{"model": "a/x", "weight": 3}, {"model": "b/y", "weight": 1},
                                    {"model": "c/z", "weight": 0.5, "priority": 2}]}}).get("r")
    assert plan is not None
    counts = Counter(choose(plan, 0.0).name for _ in range(20_000))  # type: ignore[union-attr]
    # sigma of the share is about 0.003: a 2-point bound is over 6 sigma.
    assert abs(counts["a/x"] / 20_000 - 0.75) < 0.02 and "c/z" not in counts
    # With a target passed over (tried already), the rest keep their proportions.
    a = plan.targets[0]
    assert {choose(plan, 0.0, [a]).name for _ in range(50)} == {"b/y"}  # type: ignore[union-attr]
    assert choose(plan, 0.0, [a, plan.targets[1]]).name == "c/z"  # type: ignore[union-attr]
    assert choose(plan, 0.0, plan.targets) is None
    # A gateway key limited to provider c is given c only.
    assert choose(plan, 0.0, (), ("c",)).name == "c/z"  # type: ignore[union-attr]


def test_latency_tries_unmeasured_then_fastest() -> None:
    plan = table({"r": {"strategy": "latency",
                        "targets": [{"model": "a/x"}, {"model": "b/y"}]}}).get("r")
    assert plan is not None
    a, b = plan.targets
    a.state.succeeded(0.5)
    assert {choose(plan, 0.0) for _ in range(20)} == {b}  # never measured: tried first
    b.state.succeeded(0.9)
    assert {choose(plan, 0.0) for _ in range(20)} == {a}
    for _ in range(20):
        b.state.succeeded(0.01)  # the average follows
    assert choose(plan, 0.0) is b


def test_states_survive_a_recompile_and_aliases_resolve() -> None:
    settings = parse_settings({
        "providers": {"a": {"type": "mock", "models": ["fast=mock-1"]}, "b": {"type": "mock"}},
        "routes": {"r": {"targets": [{"model": "a/fast"}, {"model": "b/mock-1"}]}},
        "store": {"memory": {}}})
    catalog = Catalog(ClientPool())
    catalog.load(settings.providers, {})
    routes = RouteTable()
    routes.load(settings.routes, {}, catalog)
    plan = routes.get("r")
    assert plan is not None
    assert [(t.route.provider_key, t.route.model) for t in plan.targets] == [
        ("a", "mock-1"), ("b", "mock-1")]
    plan.targets[0].state.in_flight = 7
    catalog.set_stored("b", None)  # a provider change recompiles: the state is kept
    routes.rebuild(catalog)
    again = routes.get("r")
    assert again is not None and again.targets[0].state.in_flight == 7
    assert routes.has("r") and not routes.has("a")


async def test_weights_through_a_node(ups: Ups, session: aiohttp.ClientSession) -> None:
    a, b, _ = ups
    route = {"targets": [{"model": "a/m", "weight": 3}, {"model": "b/m", "weight": 1}]}
    async with running_node(tree(ups, {"smart": route})) as node:
        served: Counter[str] = Counter()

        async def worker() -> None:
            for _ in range(75):
                status, _, headers = await chat(node, session, "smart")
                assert status == 200
                served[headers["x-at-provider"]] += 1

        await asyncio.gather(*(worker() for _ in range(8)))
        # 600 requests: the share's sigma is 0.018; 7.5 points is over 4 sigma.
        assert abs(served["a"] / 600 - 0.75) < 0.075, served
        assert (len(a.requests), len(b.requests)) == (served["a"], served["b"])


async def test_least_busy_sends_to_the_target_with_fewest_in_flight(
        ups: Ups, session: aiohttp.ClientSession) -> None:
    a, b, _ = ups
    route = {"strategy": "least_busy", "targets": [{"model": "a/m"}, {"model": "b/m"}]}
    async with running_node(tree(ups, {"smart": route})) as node:
        a.delay = b.delay = 0.5
        tasks = []
        for i in range(4):
            tasks.append(asyncio.create_task(chat(node, session, "smart")))
            while a.arrived + b.arrived < i + 1:  # this one is in flight now
                await asyncio.sleep(0.01)
        done = await asyncio.gather(*tasks)
        assert Counter(headers["x-at-provider"] for _, _, headers in done) == {"a": 2, "b": 2}
        # Staggered: each new request went to the one with fewer in flight, so they alternate.
        order = [headers["x-at-provider"] for _, _, headers in done]
        assert order[0] != order[1] and order[2] != order[3]
