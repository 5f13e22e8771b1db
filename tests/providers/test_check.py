"""check_request: wrong types answer InvalidRequest naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from providers import InvalidRequest, check_embedding_request, check_request
from providers.types import Dialect

OK_OPENAI = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
OK_ANTHROPIC = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
OK_GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        ("openai", OK_OPENAI),
        (
            "openai",
            {
                **OK_OPENAI,
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": 3,
                "temperature": 0.5,
                "tools": [],
            },
        ),
        ("anthropic", OK_ANTHROPIC),
        ("anthropic", {**OK_ANTHROPIC, "system": [{"type": "text", "text": "x"}], "stream": False}),
        ("gemini", OK_GEMINI),
        ("gemini", {**OK_GEMINI, "generationConfig": {"maxOutputTokens": 3}}),
    ],
)
def test_good_bodies_pass(dialect: Dialect, body: dict[str, Any]) -> None:
    check_request(dialect, body)


@pytest.mark.parametrize(
    ("dialect", "body", "param"),
    [
        ("openai", [], None),
        ("openai", {"messages": OK_OPENAI["messages"]}, "model"),
        ("openai", {**OK_OPENAI, "model": ""}, "model"),
        ("openai", {**OK_OPENAI, "model": 3}, "model"),
        ("openai", {**OK_OPENAI, "messages": []}, "messages"),
        ("openai", {**OK_OPENAI, "messages": "hi"}, "messages"),
        ("openai", {**OK_OPENAI, "messages": ["hi"]}, "messages[0]"),
        ("openai", {**OK_OPENAI, "messages": [{"content": "x"}]}, "messages[0].role"),
        ("openai", {**OK_OPENAI, "stream": "yes"}, "stream"),
        ("openai", {**OK_OPENAI, "max_tokens": "5"}, "max_tokens"),
        ("openai", {**OK_OPENAI, "max_tokens": True}, "max_tokens"),
        ("openai", {**OK_OPENAI, "max_completion_tokens": 1.5}, "max_completion_tokens"),
        ("openai", {**OK_OPENAI, "temperature": "hot"}, "temperature"),
        ("openai", {**OK_OPENAI, "stream_options": {"include_usage": 1}},
         "stream_options.include_usage"),
        ("openai", {**OK_OPENAI, "stream_options": []}, "stream_options"),
        ("anthropic", {**OK_ANTHROPIC, "max_tokens": None}, "max_tokens"),
        ("anthropic", {"model": "m", "messages": OK_ANTHROPIC["messages"]}, "max_tokens"),
        ("anthropic", {**OK_ANTHROPIC, "messages": {}}, "messages"),
        ("anthropic", {**OK_ANTHROPIC, "system": 5}, "system"),
        ("gemini", {}, "contents"),
        ("gemini", {"contents": [{"role": "user"}]}, "contents[0].parts"),
        ("gemini", {"contents": [{"role": 1, "parts": []}]}, "contents[0].role"),
    ],
)
def test_bad_bodies_name_the_field(dialect: Dialect, body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_request(dialect, body)
    assert caught.value.param == param
    assert caught.value.status == 400
    if param:
        assert param in caught.value.message


def test_embedding_request() -> None:
    check_embedding_request({"model": "e", "input": "text"})
    check_embedding_request({"model": "e", "input": ["a", "b"]})
    for bad, param in [({"input": "x"}, "model"), ({"model": "e", "input": []}, "input")]:
        with pytest.raises(InvalidRequest) as caught:
            check_embedding_request(bad)
        assert caught.value.param == param
