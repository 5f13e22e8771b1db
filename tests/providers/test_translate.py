"""The translation seam: identity for one dialect, the canonical form between two."""

from __future__ import annotations

import orjson
import pytest

from providers import ProviderConfig
from providers.sse import SSEEvent
from providers.translate import from_upstream_response, stream_translator, to_upstream_request

CONFIG = ProviderConfig(key="p", type="openai", max_tokens=77)


def test_identity_request_copies_only_when_the_model_changes() -> None:
    body = {"model": "m", "messages": []}
    assert to_upstream_request("openai", "openai", body, "m", CONFIG) is body
    changed = to_upstream_request("openai", "openai", body, "n", CONFIG)
    assert changed == {"model": "n", "messages": []} and body["model"] == "m"
    assert from_upstream_response("openai", "openai", b"{}", "m") == b"{}"
    gemini = {"contents": []}
    assert to_upstream_request("gemini", "gemini", gemini, "g", CONFIG) is gemini


def test_identity_stream_translator() -> None:
    translator = stream_translator("anthropic", "anthropic", "m")
    assert translator.feed(SSEEvent(b"{}", "ping")) == [b"event: ping\ndata: {}\n\n"]
    assert translator.finish() == []


@pytest.mark.parametrize(
    ("inbound", "upstream"), [("anthropic", "openai"), ("gemini", "openai"), ("openai", "gemini")]
)
def test_other_pairs_translate_and_never_mutate(inbound: str, upstream: str) -> None:
    bodies = {
        "openai": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        "anthropic": {"model": "m", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hi"}]},
        "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    }  # fmt: skip
    body = bodies[inbound]
    before = orjson.dumps(body)
    out = to_upstream_request(inbound, upstream, body, "up", CONFIG)  # type: ignore[arg-type]
    assert orjson.dumps(body) == before
    assert "hi" in orjson.dumps(out).decode()


def test_anthropic_default_max_tokens_comes_from_config() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    out = to_upstream_request("openai", "anthropic", body, "c", CONFIG)
    assert out["max_tokens"] == 77 and out["model"] == "c"
