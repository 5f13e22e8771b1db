"""Metric values after real traffic."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from node.metrics import Metrics
from providers import Usage
from tests.fakes.openai_upstream import FakeUpstream, Json, chat_completion
from tests.node.harness import Node, post


async def _scrape(node: Node) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(node.url + "/metrics") as resp:
        text = await resp.text()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_request_upstream_auth_token_and_overhead_metrics(
    proxied: Node, upstream: FakeUpstream
) -> None:
    chat = {"model": "up/fake-model", "messages": [{"role": "user", "content": "x"}]}
    for _ in range(2):
        assert (await post(proxied, "/v1/chat/completions", chat))[0] == 200
    upstream.push(Json({"error": {"message": "x"}}, 500))
    assert (await post(proxied, "/v1/chat/completions", chat))[0] == 502
    assert (await post(proxied, "/v1/chat/completions", chat, {}))[0] == 401
    async with aiohttp.ClientSession() as session, session.post(
        f"{proxied.url}/v1/chat/completions", json={**chat, "stream": True},
        headers=proxied.auth()) as resp:
        await resp.read()
    m = await _scrape(proxied)
    route = "/v1/chat/completions"
    assert m[("at_http_requests_total", (("method", "POST"), ("route", route),
                                         ("status", "200")))] == 3
    assert m[("at_http_requests_total", (("method", "POST"), ("route", route),
                                         ("status", "502")))] == 1
    assert m[("at_upstream_requests_total", (("outcome", "ok"), ("provider", "up"),
                                              ("status", "200")))] == 3
    assert m[("at_upstream_requests_total", (("outcome", "failed"), ("provider", "up"),
                                              ("status", "502")))] == 1
    assert m[("at_upstream_errors_total", (("error_type", "UpstreamServerError"),
                                           ("provider", "up")))] == 1
    assert m[("at_auth_requests_total", (("result", "allowed"),))] == 4
    assert m[("at_auth_requests_total", (("result", "missing"),))] == 1
    key_id = proxied.gateway.keys.records()[0].id
    labels = (("direction", "input"), ("key", key_id), ("model", "up/fake-model"))
    assert m[("at_tokens_total", labels)] == 11 * 3
    assert m[("at_streaming_events_total", (("provider", "up"),))] >= 6
    assert m[("at_gateway_overhead_seconds_count", (("route", route),))] == 5
    assert m[("at_http_requests_in_flight", ())] == 1  # the scrape itself


async def test_invented_model_names_share_one_label(proxied: Node,
                                                    upstream: FakeUpstream) -> None:
    """A client can send any provider/model; the token metric's label set must not grow with
    it (5,000 names once took /metrics from 290 KB to 21 MB)."""
    for i in range(30):
        chat = {"model": f"up/invented-{i}", "messages": [{"role": "user", "content": "x"}]}
        assert (await post(proxied, "/v1/chat/completions", chat))[0] == 200
    m = await _scrape(proxied)
    models = {dict(labels)["model"] for name, labels in m if name == "at_tokens_total"}
    assert models == {"up/other"}
    key_id = proxied.gateway.keys.records()[0].id
    labels = (("direction", "input"), ("key", key_id), ("model", "up/other"))
    assert m[("at_tokens_total", labels)] == 11 * 30


async def test_cached_tokens_have_their_own_series(proxied: Node, upstream: FakeUpstream) -> None:
    upstream.push(Json(chat_completion(prompt_tokens=11, cached_tokens=4)))
    chat = {"model": "up/fake-model", "messages": [{"role": "user", "content": "x"}]}
    assert (await post(proxied, "/v1/chat/completions", chat))[0] == 200
    m = await _scrape(proxied)
    key_id = proxied.gateway.keys.records()[0].id

    def tokens(direction: str) -> float:
        labels = (("direction", direction), ("key", key_id), ("model", "up/fake-model"))
        return m.get(("at_tokens_total", labels), 0.0)

    assert (tokens("input"), tokens("cache_read"), tokens("output")) == (7, 4, 5)


def test_every_token_direction_is_counted() -> None:
    metrics = Metrics()
    metrics.tokens_used("k", "p/m", Usage(input_tokens=1, output_tokens=2,
                                           cache_read_tokens=3, cache_write_tokens=4))
    samples = {tuple(sorted(s.labels.items())): s.value
               for family in text_string_to_metric_families(metrics.render().decode())
               for s in family.samples if s.name == "at_tokens_total"}
    assert {dict(labels)["direction"]: value for labels, value in samples.items()} == {
        "input": 1, "output": 2, "cache_read": 3, "cache_write": 4}
