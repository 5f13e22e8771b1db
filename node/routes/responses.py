"""OpenAI Responses dialect in: ``POST /v1/responses`` and the stored answers' routes.

A request goes through the same ``Exchange.chat`` as every other dialect (auth, policy,
limits, routing, usage, metrics). Around it, this route does what only Responses has:
``previous_response_id`` is expanded into the conversation's input items and each
``item_reference`` replaced by the stored item it names before the exchange (so every
upstream, translated or not, gets a complete stateless request), and
an answer with ``store`` (the default) is kept before its last event leaves (see
``responses_book``). ``GET``/``DELETE /v1/responses/{id}`` and ``.../input_items`` see only
the answers of the asking gateway key.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
from aiohttp import web

from node.errors import BadRequest
from node.json_io import json_response, read_object
from node.routes.responses_book import BOOK, KeptStream, ResponseBook, book_ctx, with_ids
from node.serve import Exchange
from node.serve.policy import has_default_model
from providers import finish_response

__all__ = ["add_routes", "book_ctx"]

T = TypeVar("T")
_PAGE_LIMIT = 100


class _KeepingExchange(Exchange):
    """An exchange whose upstream stream is stored as it ends (``KeptStream``)."""

    __slots__ = ("keeper",)

    def __init__(self, request: web.Request) -> None:
        super().__init__(request, "responses", "responses")
        self.keeper: tuple[ResponseBook, list[Any]] | None = None

    async def call(self, call: Awaitable[T]) -> T:
        result = await super().call(call)
        if self.keeper is not None and self.stream and self.key is not None:
            book, items = self.keeper
            return KeptStream(result, book, self.key.id, items)  # type: ignore[arg-type, return-value]
        return result


def _items(value: Any) -> list[Any]:
    """A request's ``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": value}]}]
    return list(value) if isinstance(value, list) else []


async def _resolved(book: ResponseBook, key_id: str, value: Any) -> Any:
    """``input`` with each ``item_reference`` replaced by the stored item it names."""
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for n, item in enumerate(value):
        if isinstance(item, dict) and item.get("type") == "item_reference":
            item_id = item.get("id")
            if not isinstance(item_id, str) or not item_id:
                raise BadRequest(f"input[{n}].id: an item_reference needs the id of a stored "
                                 "item (a string)", param=f"input[{n}].id")
            item = await book.item(item_id, key_id, f"input[{n}]")
        out.append(item)
    return out


async def create(request: web.Request) -> web.StreamResponse:
    book = request.app[BOOK]
    exchange = _KeepingExchange(request)
    async with exchange:
        assert exchange.key is not None
        body = await read_object(request)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("stream: expected a boolean", param="stream")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            if not has_default_model(exchange):
                raise BadRequest("model: 'model' is required and must be a string",
                                 param="model")
            model = ""
        if isinstance(body.get("input"), list):
            body = {**body, "input": await _resolved(book, exchange.key.id, body["input"])}
        previous = body.get("previous_response_id")
        if isinstance(previous, str) and previous:
            before = await book.find(previous, exchange.key.id, recent=True,
                                     param="previous_response_id")
            history = [*before.get("input", []), *before["response"].get("output", [])]
            body = {**body, "input": [*history, *_items(body.get("input"))]}
        keep = body.get("store", True) is not False
        items = with_ids(_items(body.get("input")))
        if keep:
            exchange.keeper = (book, items)
        response = await exchange.chat(body, model, stream=stream)
        if stream or not isinstance(response, web.Response) or response.status != 200:
            return response
        assert isinstance(response.body, bytes)
        answer = finish_response(orjson.loads(response.body), body)
        if keep:
            await book.keep(exchange.key.id, answer, items)
        response.body = orjson.dumps(answer)
        return response


async def retrieve(request: web.Request) -> web.Response:
    async with Exchange(request, "responses", "responses.get") as exchange:
        assert exchange.key is not None
        found = await request.app[BOOK].find(request.match_info["response_id"],
                                             exchange.key.id)
    return json_response(found["response"])


async def input_items(request: web.Request) -> web.Response:
    """The input items of a stored answer (the whole conversation before it), newest
    first unless ``order=asc``; ``limit`` (1-100, default 20) and ``after`` page them."""
    async with Exchange(request, "responses", "responses.input_items") as exchange:
        assert exchange.key is not None
        found = await request.app[BOOK].find(request.match_info["response_id"],
                                             exchange.key.id)
    query = request.query
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("order: expected 'asc' or 'desc'", param="order")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= _PAGE_LIMIT:
        raise BadRequest(f"limit: expected an integer from 1 to {_PAGE_LIMIT}", param="limit")
    items = [{**item, "id": item.get("id") or f"item_{n}"}
             for n, item in enumerate(found.get("input", [])) if isinstance(item, dict)]
    if order == "desc":
        items.reverse()
    after = query.get("after")
    if after:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[:limit]
    return json_response({"object": "list", "data": page,
                          "first_id": page[0]["id"] if page else None,
                          "last_id": page[-1]["id"] if page else None,
                          "has_more": len(items) > limit})


async def delete(request: web.Request) -> web.Response:
    async with Exchange(request, "responses", "responses.delete") as exchange:
        assert exchange.key is not None
        response_id = request.match_info["response_id"]
        await request.app[BOOK].delete(response_id, exchange.key.id)
    return json_response({"id": response_id, "object": "response.deleted", "deleted": True})


async def no_websocket(request: web.Request) -> web.Response:
    """Codex's built-in provider first tries a WebSocket here: refuse fast so it falls back
    to HTTPS (426, in OpenAI's error shape)."""
    return web.Response(
        status=426, content_type="application/json",
        body=orjson.dumps({"error": {"message": "this gateway serves /v1/responses over "
                                     "HTTPS POST only", "type": "invalid_request_error",
                                     "param": None, "code": "websocket_not_supported"}}))


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/v1/responses", create)
    app.router.add_get(f"{base}/v1/responses", no_websocket)
    app.router.add_get(f"{base}/v1/responses/{{response_id}}", retrieve)
    app.router.add_delete(f"{base}/v1/responses/{{response_id}}", delete)
    app.router.add_get(f"{base}/v1/responses/{{response_id}}/input_items", input_items)
