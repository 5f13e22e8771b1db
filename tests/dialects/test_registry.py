"""The dialect registry: every dialect answers what node needs, in its own shape."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from providers import DIALECTS, ArrayFramer, InvalidRequest, dialect
from providers.types import Dialect, Usage

NAMES: tuple[Dialect, ...] = ("openai", "anthropic", "gemini", "responses")


def test_every_dialect_is_registered_under_its_name() -> None:
    assert sorted(DIALECTS) == sorted(NAMES)
    for name in NAMES:
        assert dialect(name).name == name


def test_pings() -> None:
    assert DIALECTS["anthropic"].ping == b'event: ping\ndata: {"type": "ping"}\n\n'
    assert DIALECTS["openai"].ping == b": ping\n\n"
    assert DIALECTS["gemini"].ping == b"\n"


def test_forwarded_headers() -> None:
    assert DIALECTS["anthropic"].forwarded_headers == ("anthropic-beta", "anthropic-version")
    assert DIALECTS["openai"].forwarded_headers == ()
    assert DIALECTS["gemini"].forwarded_headers == ()


@pytest.mark.parametrize(
    ("name", "body", "limit"),
    [
        ("openai", {"max_tokens": 100}, 100),
        # the largest: a server honours one of the two, and an answer must fit the bound
        ("openai", {"max_completion_tokens": 50, "max_tokens": 100}, 100),
        ("openai", {"max_completion_tokens": 500, "max_tokens": 100}, 500),
        ("openai", {"max_completion_tokens": 0, "max_tokens": 7}, 7),
        ("openai", {"max_tokens": True}, None),
        ("anthropic", {"max_tokens": 64000}, 64000),
        ("anthropic", {}, None),
        ("gemini", {"generationConfig": {"maxOutputTokens": 8}}, 8),
        ("gemini", {"generationConfig": "x"}, None),
    ],
)
def test_output_limit(name: Dialect, body: dict[str, Any], limit: int | None) -> None:
    assert DIALECTS[name].output_limit(body) == limit


def test_check_request_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        DIALECTS["anthropic"].check_request({"model": "m", "messages": [{"role": "user"}]})
    assert caught.value.param == "max_tokens"


def test_model_lists() -> None:
    models = [("p/a", "p"), ("q/b", "q")]
    openai = orjson.loads(DIALECTS["openai"].model_list(models, 1700000000.5))
    assert openai == {"object": "list", "data": [
        {"id": "p/a", "object": "model", "created": 1700000000, "owned_by": "p"},
        {"id": "q/b", "object": "model", "created": 1700000000, "owned_by": "q"}]}
    anthropic = orjson.loads(DIALECTS["anthropic"].model_list(models, 1700000000.5))
    assert anthropic["first_id"] == "p/a" and anthropic["last_id"] == "q/b"
    assert anthropic["data"][0] == {"type": "model", "id": "p/a", "display_name": "p/a",
                                    "created_at": "2023-11-14T22:13:20Z"}
    assert orjson.loads(DIALECTS["anthropic"].model_list([], 0))["first_id"] is None
    gemini = orjson.loads(DIALECTS["gemini"].model_list(models, 0))
    assert gemini["models"][1] == {"name": "models/q/b", "displayName": "q/b",
                                   "supportedGenerationMethods":
                                       ["generateContent", "streamGenerateContent"]}


def test_array_framer() -> None:
    assert DIALECTS["openai"].array_framer() is None
    framer = DIALECTS["gemini"].array_framer()
    assert isinstance(framer, ArrayFramer)
    assert framer.feed(b'data: {"a":1}\n\ndata: {"b":2}\n\n') == b'[{"a":1},\r\n{"b":2}'
    assert framer.feed(b": comment\n\n") == b""
    assert framer.feed(b'data: {"c":3}\n\n') == b',\r\n{"c":3}'
    assert framer.end() == b"]"
    assert ArrayFramer().end() == b"[]"


def test_array_framer_keeps_every_line_of_an_event() -> None:
    framer = ArrayFramer()
    out = framer.feed(b'data: {"a":\ndata:  [1,\ndata: 2]}\n\ndata: {"b":3}\n\n') + framer.end()
    assert orjson.loads(out) == [{"a": [1, 2]}, {"b": 3}]


@pytest.mark.parametrize("name", NAMES)
def test_usage_round_trip(name: Dialect) -> None:
    usage = Usage(input_tokens=20, output_tokens=7, cache_read_tokens=80)
    spec = DIALECTS[name]
    assert spec.usage_from(spec.usage_to(usage)) == usage
