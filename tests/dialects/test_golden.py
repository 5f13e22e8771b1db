"""Golden files for every cross-dialect translation: requests, responses and streams.

Files live in tests/golden/. Run with ``AT_REGEN_GOLDEN=1`` to rewrite them after an
intended change, then review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from providers import ProviderConfig
from providers.sse import SSEDecoder
from providers.translate import from_upstream_response, stream_translator, to_upstream_request
from tests.dialects.test_matrix import BODIES
from tests.fakes.openai_upstream import _frame
from tests.fakes.replies import reply

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REGEN = os.environ.get("AT_REGEN_GOLDEN") == "1"
CONFIG = ProviderConfig(key="up", type="openai", max_tokens=1024)
PAIRS = [(a, b) for a in ("openai", "anthropic", "gemini")
         for b in ("openai", "anthropic", "gemini") if a != b]  # fmt: skip
_CREATED = re.compile(r'(\\?"created\\?": ?)\d+')  # also inside escaped SSE frames


def _check(name: str, value: Any) -> None:
    text = _CREATED.sub(r"\g<1>0", orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())
    path = GOLDEN / f"{name}.json"
    if REGEN or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text + "\n")
        if not REGEN:
            pytest.fail(f"{path} was missing and has been written; review and commit it")
    assert text + "\n" == path.read_text(), f"{path} differs (AT_REGEN_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize(("inbound", "upstream"), PAIRS)
def test_request_golden(inbound: str, upstream: str) -> None:
    for content in ("tools", "image"):
        body = BODIES[inbound](content)
        out = to_upstream_request(inbound, upstream, body, "up-model", CONFIG)  # type: ignore[arg-type]
        _check(f"request_{inbound}_to_{upstream}_{content}", out)


@pytest.mark.parametrize(("inbound", "upstream"), PAIRS)
def test_response_golden(inbound: str, upstream: str) -> None:
    for kind in ("text", "tools"):
        raw = orjson.dumps(reply(upstream, kind, stream=False).body)
        out = from_upstream_response(inbound, upstream, raw, "up-model")  # type: ignore[arg-type]
        _check(f"response_{upstream}_to_{inbound}_{kind}", orjson.loads(out))


@pytest.mark.parametrize(("inbound", "upstream"), PAIRS)
def test_stream_golden(inbound: str, upstream: str) -> None:
    for kind in ("text", "tools"):
        raw = b"".join(_frame(e) for e in reply(upstream, kind, stream=True).events)
        translator = stream_translator(
            inbound, upstream, "up-model",  # type: ignore[arg-type]
            request={"stream_options": {"include_usage": True}},
        )
        frames: list[bytes] = []
        for event in SSEDecoder().feed(raw):
            if event.data == b"[DONE]":
                break
            frames += translator.feed(event)
        frames += translator.finish()
        _check(f"stream_{upstream}_to_{inbound}_{kind}", [f.decode() for f in frames])
