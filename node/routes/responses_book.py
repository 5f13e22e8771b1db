"""Stored Responses-API answers on the node: recent ones in memory, all of them in the store.

``previous_response_id`` must work on any replica, so every stored answer goes to the store
through the batched ``ResponseWriter``, and the exchange waits for that write before its
final event (or, unstreamed, its body) leaves: by the time a client can send the follow-up,
any node can read the previous turn. The cost is one batched write per stored answer,
paid at the end of the answer, never before its first byte. The last answers this node made
stay in memory for ``_FRESH`` seconds, so the next turn of a tool loop that lands here
reads no database; GET, DELETE and input_items always ask the store, and a DELETE made on
another node stops ``previous_response_id`` here within those seconds at most.

What is kept: the response object (its output, usage, echoed request fields and metadata)
and the conversation's input items, under the gateway key that made them; nothing with
``store: false``. They are kept ``server.responses_retention`` (30 days by default). Input
items the client sent without an id get one (as OpenAI gives them), so ``input_items``
lists stable ids and an ``item_reference`` can name any input or output item; reasoning
items are left without: an ``rs_`` id OpenAI did not make fails a later turn there.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Final

import orjson
from aiohttp import web

from node.errors import RequestError
from node.state import GATEWAY
from providers import Stream, Usage
from store import ResponseRecord, ResponseWriter, Store

__all__ = ["BOOK", "ItemNotFound", "KeptStream", "ResponseBook", "ResponseNotFound",
           "book_ctx", "with_ids"]

_REMEMBERED: Final = 256
"""How many of its latest stored answers a node keeps in memory."""
_FRESH: Final = 60.0
"""Seconds a node continues a conversation from its memory, without asking the store."""
_ID_PREFIX: Final = {"message": "msg", "function_call": "fc", "function_call_output": "fco",
                     "custom_tool_call": "ctc", "custom_tool_call_output": "ctco"}
"""The id prefix of each input item type that gets an id when stored (OpenAI's own)."""
_TERMINAL: Final = (b"event: response.completed", b"event: response.incomplete",
                    b'data: {"type":"response.completed"', b'data: {"type":"response.incomplete"')


class ResponseNotFound(RequestError):
    """404 in OpenAI's shape: no such response for this key (never says whose it is)."""

    status = 404
    kind = "invalid_request_error"


class ItemNotFound(RequestError):
    """404 in OpenAI's shape: an ``item_reference`` naming no stored item of this key."""

    status = 404
    kind = "invalid_request_error"


def with_ids(items: list[Any]) -> list[Any]:
    """``items`` with an id on each one that has none (see the module docstring)."""
    out: list[Any] = []
    for item in items:
        kind = item.get("type", "message") if isinstance(item, dict) else None
        # Not yet checked here: a type that is not a string is the shape check's 400 later.
        prefix = _ID_PREFIX.get(kind) if isinstance(kind, str) else None
        if prefix is not None and not item.get("id"):
            item = {"id": f"{prefix}_{secrets.token_hex(16)}", **item}
        out.append(item)
    return out


def _item_ids(response: dict[str, Any], input_items: list[Any]) -> tuple[str, ...]:
    every = [*input_items, *(response.get("output") or ())]
    ids = (item.get("id") for item in every if isinstance(item, dict))
    return tuple(dict.fromkeys(i for i in ids if isinstance(i, str) and i))


def _holding(body: dict[str, Any], item_id: str) -> dict[str, Any] | None:
    """The item ``item_id`` of a stored answer (its output first, then its input)."""
    response = body.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    for item in [*(output or ()), *(body.get("input") or ())]:
        if isinstance(item, dict) and item.get("id") == item_id:
            return item
    return None


class ResponseBook:
    """Stores and finds the answers of one node (see the module docstring)."""

    def __init__(self, writer: ResponseWriter, store: Store, retention: float) -> None:
        self._writer = writer
        self._store = store
        self._retention = retention
        self._recent: OrderedDict[str, ResponseRecord] = OrderedDict()

    async def keep(self, key_id: str, response: dict[str, Any],
                   input_items: list[Any]) -> None:
        """Store one answer (waits for the write; a failed write is logged by the writer)."""
        now = time.time()
        body = orjson.dumps({"response": response, "input": input_items})
        record = ResponseRecord(str(response.get("id", "")), key_id, now,
                                now + self._retention, body, _item_ids(response, input_items))
        if not record.id or self._retention <= 0:
            return
        if await self._writer.write(record):
            self._remember(record)

    def _remember(self, record: ResponseRecord) -> None:
        self._recent[record.id] = record
        self._recent.move_to_end(record.id)
        while len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)

    async def find(self, response_id: str, key_id: str, *, recent: bool = False,
                   param: str | None = None) -> dict[str, Any]:
        """``{"response": ..., "input": [...]}`` of a live answer of ``key_id``; 404
        (in the same words for another key's answer as for none) naming ``param``, the
        body field that gave the id (None: the path did). ``recent``: this node's memory
        may answer (a conversation going on); the store otherwise."""
        record = self._recent.get(response_id) if recent else None
        if record is None or record.created_at + _FRESH < time.time():
            record = await self._store.get_response(response_id)
        if record is None or record.key_id != key_id or record.expires_at < time.time():
            raise ResponseNotFound(f"Response with id '{response_id}' not found.",
                                   param=param)
        value = orjson.loads(record.body)
        assert isinstance(value, dict)
        return value

    async def item(self, item_id: str, key_id: str, param: str) -> dict[str, Any]:
        """The stored item ``item_id`` (an input or output item of one of ``key_id``'s live
        answers) for an ``item_reference``; 404 naming ``item_id`` otherwise, in the same
        words for another key's item as for none."""
        now = time.time()
        record = next((r for r in reversed(self._recent.values())
                       if r.key_id == key_id and item_id in r.items
                       and r.created_at + _FRESH >= now), None)
        if record is None:
            record = await self._store.find_response_item(item_id, key_id)
        found = None
        if record is not None and record.key_id == key_id and record.expires_at >= now:
            body = orjson.loads(record.body)
            found = _holding(body, item_id) if isinstance(body, dict) else None
        if found is None:
            raise ItemNotFound(f"Item with id '{item_id}' not found.", param=param)
        return found

    async def purge(self) -> int:
        """Delete the expired answers now (the writer also does it every few minutes)."""
        return await self._writer.purge()

    async def delete(self, response_id: str, key_id: str) -> None:
        await self.find(response_id, key_id)  # 404 unless this key's
        self._recent.pop(response_id, None)
        await self._store.delete_response(response_id, key_id)


BOOK: web.AppKey[ResponseBook] = web.AppKey("responses_book")


async def book_ctx(app: web.Application) -> AsyncIterator[None]:
    """The node's book and its writer's background task (after the gateway is up)."""
    gateway = app[GATEWAY]
    writer = ResponseWriter(gateway.store)
    writer.start()
    app[BOOK] = ResponseBook(writer, gateway.store,
                             float(gateway.settings.server.responses_retention))
    try:
        yield
    finally:
        await writer.close()


class KeptStream:
    """An upstream stream (already in the Responses dialect) whose answer is stored before
    its final event reaches the client: ``keep`` gets the finished response object."""

    def __init__(self, inner: Stream, book: ResponseBook, key_id: str,
                 input_items: list[Any]) -> None:
        self._inner = inner
        self._book = book
        self._key_id = key_id
        self._input = input_items

    @property
    def usage(self) -> Usage:
        return self._inner.usage

    @property
    def failed(self) -> bool:
        return self._inner.failed

    @property
    def final(self) -> bool:
        return self._inner.final

    @property
    def error(self) -> str:
        return self._inner.error

    @property
    def arrived(self) -> bool:
        return self._inner.arrived

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            if b"response.completed" in chunk or b"response.incomplete" in chunk:
                response = _terminal(chunk)
                if response is not None:
                    await self._book.keep(self._key_id, response, self._input)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def _terminal(chunk: bytes) -> dict[str, Any] | None:
    """The ``response`` of the terminal event in ``chunk``, if one is there."""
    for frame in chunk.split(b"\n\n"):
        frame = frame.lstrip(b"\r\n")
        if not frame.startswith(_TERMINAL):
            continue
        data = b"".join(line[5:].lstrip() for line in frame.split(b"\n")
                        if line.startswith(b"data:"))
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        response = event.get("response") if isinstance(event, dict) else None
        return response if isinstance(response, dict) else None
    return None
