"""Stored routes (memory, SQLite, Postgres: the same contract, migration 4) and the at.yaml
``routes`` section's one-line errors."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from node.config import ConfigError, parse_settings
from store import StoreConfig, open_store

ROUTE = {"strategy": "weighted", "targets": [{"model": "a/x", "weight": 3.0, "priority": 1}],
         "retries": 2, "retry_on": ["429"], "timeout": 0.0, "cooldown": 30.0}


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        return StoreConfig(kind="postgres", datasource=dsn, schema="r_" + uuid.uuid4().hex[:12])
    if request.param == "sqlite":
        return StoreConfig(kind="sqlite", datasource=str(tmp_path / "at.db"))
    return StoreConfig(kind="memory")


async def test_routes_are_stored_listed_replaced_and_deleted(config: StoreConfig) -> None:
    store = await open_store(config)
    try:
        assert await store.list_routes() == [] and await store.get_route("smart") is None
        await store.put_route("smart", ROUTE)
        await store.put_route("cheap", {**ROUTE, "retries": 0})
        assert [r.name for r in await store.list_routes()] == ["cheap", "smart"]
        got = await store.get_route("smart")
        assert got is not None and dict(got.config) == ROUTE
        await store.put_route("smart", {**ROUTE, "strategy": "latency"})
        got = await store.get_route("smart")
        assert got is not None and got.config["strategy"] == "latency"
        assert await store.delete_route("smart") and not await store.delete_route("smart")
        assert [r.name for r in await store.list_routes()] == ["cheap"]
    finally:
        await store.close()
    if config.kind != "memory":  # durable: a reopened store (migrated once) still has it
        again = await open_store(config)
        try:
            assert [r.name for r in await again.list_routes()] == ["cheap"]
        finally:
            await again.close()


def _error(routes: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"providers": {"a": {"type": "mock"}, "b": {"type": "mock"}},
                        "routes": routes, "store": {"memory": {}}})
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_config_errors_name_the_key() -> None:
    good = [{"model": "a/x"}]
    assert _error({"s": {"targets": [{"model": "c/x"}]}}).startswith(
        "routes.s.targets[0].model: 'c/x' names no provider")
    assert _error({"a": {"targets": good}}).startswith("routes.a: the name is a provider key")
    assert _error({"s": {"targets": [{"model": "a/x", "weight": 0}]}}).startswith(
        "routes.s.targets[0].weight: 0.0 is not valid")
    assert _error({"s": {"targets": []}}) == (
        "routes.s.targets: empty: expected at least one target")
    assert _error({"s": {"targets": good, "strategy": "rr"}}).startswith("routes.s.strategy:")
    assert _error({"s": {"targets": good, "retry_on": ["4xx"]}}).startswith(
        "routes.s.retry_on[0]: '4xx' is not valid")
    assert _error({"s": {"targets": good, "cooldown": "1 fortnight"}}).startswith(
        "routes.s.cooldown:")
    assert _error({"s": {"targets": good, "timeout": -1}}).startswith("routes.s.timeout:")
    assert _error({"s": {"targets": good, "cooldown": 0}}).startswith("routes.s.cooldown: 0")
    assert _error({"s": {"targets": [*good, *good]}}).endswith("is listed twice")
    assert _error({"s": {"targets": good, "tries": 1}}) == (
        "routes.s.tries: unknown key (check the spelling)")
    assert _error({"s/t": {"targets": good}}).startswith("routes.s/t: the route name is not")
    assert _error(["s"]).startswith("routes: expected a mapping")


def test_config_defaults_and_yaml_numbers() -> None:
    settings = parse_settings({"providers": {"a": {"type": "mock"}},
                               "routes": {"s": {"targets": [{"model": "a/x"}],
                                                "retry_on": [429, "connect"],
                                                "timeout": "1.5s"}},
                               "store": {"memory": {}}})
    route = settings.routes["s"]
    assert (route.strategy, route.retries, route.retry_on, route.timeout, route.cooldown) == (
        "weighted", 2, ["429", "connect"], 1.5, 30.0)
    assert (route.targets[0].weight, route.targets[0].priority) == (1.0, 1)
