"""The bounds a limited request reserves, in every dialect: the output limit it is sent with
and the media parts its input bound counts."""

from __future__ import annotations

from typing import Any

import pytest

from node.limits.needs import MEDIA_TOKENS, input_bound, with_output_limit
from providers.dialects import DIALECTS

BODIES: dict[str, dict[str, Any]] = {
    "openai": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    "anthropic": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    "responses": {"model": "m", "input": "hi"},
}


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_request_without_an_output_limit_is_sent_with_one(name: str) -> None:
    spec = DIALECTS[name]  # type: ignore[index]
    body = BODIES[name]
    assert spec.output_limit(body) is None
    limited = with_output_limit(spec, body, 77)
    assert spec.output_limit(limited) == 77  # in the dialect's own field, so it is honoured
    assert spec.output_limit(with_output_limit(spec, limited, 5)) == 5  # lowered
    assert spec.output_limit(with_output_limit(spec, limited, 500)) == 77  # kept
    assert body == BODIES[name]  # the client's body is not changed in place


def test_every_dialect_has_a_body_here() -> None:
    assert set(BODIES) == set(DIALECTS)


@pytest.mark.parametrize("part", [
    {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
    {"type": "input_image", "image_url": "https://x/a.png"},
    {"type": "input_file", "file_url": "https://x/a.pdf"},
    {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
    {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
    {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/a.png"}},
    {"file_data": {"mime_type": "image/png", "file_uri": "gs://b/a.png"}},
])
def test_a_media_part_by_reference_adds_its_allowance(part: dict[str, Any]) -> None:
    text = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    media = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, part]}]}
    assert input_bound(media) - input_bound(text) >= MEDIA_TOKENS


def test_text_that_names_a_media_type_is_not_counted() -> None:
    body = {"messages": [{"role": "user", "content": 'say "type":"image_url" twice'}]}
    assert input_bound(body) < MEDIA_TOKENS
