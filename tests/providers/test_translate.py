"""The translation seam: identity today, a clear 400 for pairs not yet translatable."""

from __future__ import annotations

import pytest

from providers import InvalidRequest, ProviderConfig
from providers.sse import SSEEvent
from providers.translate import from_upstream_response, stream_translator, to_upstream_request

CONFIG = ProviderConfig(key="p", type="openai")


def test_identity_request_copies_only_when_the_model_changes() -> None:
    body = {"model": "m", "messages": []}
    assert to_upstream_request("openai", "openai", body, "m", CONFIG) is body
    changed = to_upstream_request("openai", "openai", body, "n", CONFIG)
    assert changed == {"model": "n", "messages": []} and body["model"] == "m"
    assert from_upstream_response("openai", "openai", b"{}", "m") == b"{}"


def test_identity_stream_translator() -> None:
    translator = stream_translator("anthropic", "anthropic", "m")
    assert translator.feed(SSEEvent(b"{}", "ping")) == [b"event: ping\ndata: {}\n\n"]
    assert translator.finish() == []


@pytest.mark.parametrize(
    ("inbound", "upstream"), [("anthropic", "openai"), ("gemini", "openai"), ("openai", "gemini")]
)
def test_other_pairs_are_not_available_yet(inbound: str, upstream: str) -> None:
    message = f"translation from {inbound} to {upstream} is not available yet"
    with pytest.raises(InvalidRequest, match=message):
        to_upstream_request(inbound, upstream, {}, "m", CONFIG)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=message):
        from_upstream_response(inbound, upstream, b"{}", "m")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=message):
        stream_translator(inbound, upstream, "m")  # type: ignore[arg-type]
