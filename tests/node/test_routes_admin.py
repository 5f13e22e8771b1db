"""``/api/v1/routes``: CRUD behind the admin token, stored routes over YAML ones, live target
state, and bad input answered 400 naming the field."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.node.harness import Node, running_node, settings_tree

PROVIDERS = {"demo": {"type": "mock"}, "other": {"type": "mock"}}
YAML_ROUTE = {"targets": [{"model": "demo/mock-1"}]}


async def call(node: Node, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, f"{node.url}/api/v1{path}", json=body,
            headers=node.admin() if headers is None else headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_crud_and_stored_over_yaml() -> None:
    tree = settings_tree(providers=PROVIDERS, routes={"fixed": YAML_ROUTE})
    async with running_node(tree) as node:
        status, listed = await call(node, "GET", "/routes")
        assert status == 200 and [r["name"] for r in listed["data"]] == ["fixed"]
        assert listed["data"][0]["source"] == "yaml"
        body = {"name": "smart", "strategy": "least_busy", "retry_on": [429, "5xx"],
                "targets": [{"model": "demo/mock-1", "weight": 2},
                            {"model": "other/mock-1", "priority": 2}], "cooldown": "10s"}
        status, made = await call(node, "POST", "/routes", body)
        assert status == 201, made
        assert (made["retry_on"], made["cooldown"], made["source"]) == (["429", "5xx"], 10.0,
                                                                          "store")
        assert (await call(node, "POST", "/routes", body))[0] == 409
        status, one = await call(node, "GET", "/routes/smart")
        assert status == 200
        first = one["targets"][0]
        assert (first["provider"], first["upstream_model"]) == ("demo", "mock-1")
        assert first["state"]["status"] == "healthy" and first["state"]["in_flight"] == 0
        # Served at once, by the request path, from memory.
        async with aiohttp.ClientSession() as session, session.post(
                f"{node.url}/v1/chat/completions", headers=node.auth(),
                json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]}) as r:
            assert r.status == 200 and r.headers["x-at-provider"] == "demo"
        # A GET's output sent back is a valid PUT; a stored route overrides the YAML one.
        status, _ = await call(node, "PUT", "/routes/smart", one)
        assert status == 200
        over = {"targets": [{"model": "other/mock-1"}]}
        assert (await call(node, "PUT", "/routes/fixed", over))[0] == 201
        plan = node.gateway.routes.get("fixed")
        assert plan is not None and plan.source == "store"
        assert (await call(node, "DELETE", "/routes/fixed"))[0] == 200
        plan = node.gateway.routes.get("fixed")
        assert plan is not None and plan.source == "yaml"  # YAML shows through again
        assert (await call(node, "DELETE", "/routes/fixed"))[0] == 409
        assert (await call(node, "DELETE", "/routes/smart"))[0] == 200
        assert (await call(node, "GET", "/routes/smart"))[0] == 404
        assert (await call(node, "DELETE", "/routes/smart"))[0] == 404
        assert node.gateway.routes.get("smart") is None


async def test_needs_the_admin_token() -> None:
    async with running_node(settings_tree(providers=PROVIDERS)) as node:
        for method, path in (("GET", "/routes"), ("POST", "/routes"), ("GET", "/routes/x"),
                             ("PUT", "/routes/x"), ("DELETE", "/routes/x")):
            status, _ = await call(node, method, path, {}, headers={})
            assert status == 401, (method, path)
            status, _ = await call(node, method, path, {}, headers=node.auth())
            assert status == 401, (method, path)  # a gateway key is not an admin token


async def test_bad_input_is_a_400_naming_the_field() -> None:
    async with running_node(settings_tree(providers=PROVIDERS)) as node:
        good = [{"model": "demo/mock-1"}]
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"targets": [{"model": "nope/x"}]}, "targets[0].model", "names no provider"),
            ({"targets": [{"model": "demo/mock-1", "weight": 0}]}, "targets[0].weight",
             "above 0"),
            ({"targets": [{"model": "demo/mock-1", "weight": -1}]}, "targets[0].weight",
             "above 0"),
            ({"targets": []}, "targets", "at least one"),
            ({"targets": good, "strategy": "random"}, "strategy", "weighted"),
            ({"targets": good, "retry_on": ["4xx"]}, "retry_on[0]", "5xx"),
            ({"targets": good, "timeout": "soon"}, "timeout", "duration"),
            ({"targets": good, "retries": -1}, "retries", "0 to"),
            ({"targets": good, "wieght": 1}, "wieght", "not a field"),
            ({"targets": [{"model": "demo/mock-1", "wieght": 2}]}, "targets[0].wieght",
             "unknown key"),
            ({}, "targets", "required"),
        ]
        for body, param, words in cases:
            status, answer = await call(node, "PUT", "/routes/r", body)
            assert status == 400, (body, answer)
            assert answer["error"]["param"] == param, (body, answer)
            assert words in answer["error"]["message"], (body, answer)
        status, answer = await call(node, "PUT", "/routes/demo", {"targets": good})
        assert status == 400 and "provider key" in answer["error"]["message"]
        status, answer = await call(node, "POST", "/routes", {"targets": good})
        assert status == 400 and answer["error"]["param"] == "name"
        status, answer = await call(node, "PUT", "/routes/a%2Fb", {"targets": good})
        assert status == 400 and "no /" in answer["error"]["message"]
        status, answer = await call(node, "PUT", "/routes/r", [1])
        assert status == 400
        assert node.gateway.routes.plans() == {}


async def test_a_provider_cannot_take_a_route_name() -> None:
    tree = settings_tree(providers=PROVIDERS, routes={"smart": YAML_ROUTE})
    async with running_node(tree) as node:
        await call(node, "PUT", "/routes/stored", YAML_ROUTE)
        for method, path, body in (("POST", "/providers", {"key": "smart", "type": "mock"}),
                                   ("PUT", "/providers/smart", {"type": "mock"}),
                                   ("PUT", "/providers/stored", {"type": "mock"})):
            status, answer = await call(node, method, path, body)
            assert status == 400, (path, answer)
            assert answer["error"]["param"] == "key"
            assert "route" in answer["error"]["message"]
        assert await node.gateway.store.get_provider("smart") is None
        assert await node.gateway.store.get_provider("stored") is None
