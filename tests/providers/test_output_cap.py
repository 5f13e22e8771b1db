"""``max_output_tokens``: a client's output limit is capped before it reaches the upstream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from providers import ClientPool, InvalidConfig, ProviderConfig, build_provider
from providers.dialects import DIALECTS
from tests.fakes.openai_upstream import FakeUpstream

ConfigFor = Callable[..., ProviderConfig]


@pytest.mark.parametrize(
    ("dialect", "payload", "expected"),
    [
        ("openai", {"max_tokens": 64000, "n": 1}, {"max_tokens": 1000, "n": 1}),
        ("openai", {"max_completion_tokens": 5000}, {"max_completion_tokens": 1000}),
        ("openai", {"max_tokens": 10}, {"max_tokens": 10}),
        ("openai", {}, {}),
        ("anthropic", {"max_tokens": 64000}, {"max_tokens": 1000}),
        ("gemini", {"generationConfig": {"maxOutputTokens": 8192, "topK": 3}},
         {"generationConfig": {"maxOutputTokens": 1000, "topK": 3}}),
        ("gemini", {"contents": []}, {"contents": []}),
    ],
)
def test_cap(dialect: Any, payload: dict[str, Any], expected: dict[str, Any]) -> None:
    before = repr(payload)
    assert DIALECTS[dialect].cap_output(payload, 1000) == expected
    assert repr(payload) == before  # the client's body is never changed in place


async def test_capped_upstream_body(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    adapter = build_provider(config_for(max_output_tokens=1000), pool)
    body = {"model": "m", "max_tokens": 64000, "messages": [{"role": "user", "content": "x"}]}
    await adapter.complete("openai", body, "m")
    assert fake.requests[0].body["max_tokens"] == 1000
    anthropic_body = {"model": "m", "max_tokens": 64000,
                      "messages": [{"role": "user", "content": "x"}]}
    await adapter.complete("anthropic", anthropic_body, "m")
    sent = fake.requests[1].body
    assert sent.get("max_tokens", sent.get("max_completion_tokens")) == 1000


def test_negative_cap_is_invalid() -> None:
    with pytest.raises(InvalidConfig, match=r"providers\.p\.max_output_tokens"):
        ProviderConfig(key="p", type="openai", max_output_tokens=-1)
