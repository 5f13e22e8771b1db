"""An open OpenAI-compatible SSE stream, relayed event by event.

Per event the relay does byte checks only; JSON is parsed just for the rare events that
carry a real ``usage`` object or an ``error`` key.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import aiohttp
import orjson

from providers.error_format import error_event
from providers.errors import ProviderError, UpstreamServerError
from providers.http import translate_client_error, upstream_error
from providers.openai_wire import openai_usage
from providers.sse import SSEDecoder, SSEEvent, encode_event
from providers.translate import StreamTranslator
from providers.types import Dialect, Usage

__all__ = ["OpenAIStream"]

_DONE = b"data: [DONE]\n\n"


def _is_null(data: bytes, at: int) -> bool:
    """Whether the value after the key ending at ``at`` is ``null`` (OpenAI sends
    ``"usage":null`` in every chunk once usage is asked for; those need no parse)."""
    rest = data[at : at + 8]
    return rest[:5] == b":null" or rest.replace(b" ", b"")[:5] == b":null"


def _braced(data: bytes) -> bool:
    return data[:1] == b"{" and data[-1:] == b"}"


class OpenAIStream:
    """Relays an upstream chat-completions stream; see ``providers.types.Stream``.

    ``strip_usage``: the gateway asked for ``include_usage`` on the client's behalf, so
    the usage-only chunk (``choices == []``) is recorded but not relayed.
    """

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        *,
        provider: str,
        inbound: Dialect,
        strip_usage: bool,
        translator: StreamTranslator | None = None,
    ) -> None:
        self.usage = Usage()
        self.failed = False
        self._resp = resp
        self._provider = provider
        self._host = resp.url.host or ""
        self._inbound = inbound
        self._strip = strip_usage
        self._translator = translator
        self._done = False
        self._closed = False
        self._gen: AsyncGenerator[bytes, None] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._gen is None:
            self._gen = self._relay()
        return self._gen

    async def aclose(self) -> None:
        """Close the upstream response (aborting it if unfinished); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._resp.close()
        if self._gen is not None:
            # RuntimeError: the generator runs in another task; the closed socket ends it.
            with contextlib.suppress(RuntimeError):
                await self._gen.aclose()

    async def _relay(self) -> AsyncGenerator[bytes, None]:
        decoder = SSEDecoder()
        clean = False
        try:
            while True:
                chunk = await self._read()
                # Everything one upstream read completes goes out as one write: a socket
                # write per event would cost a syscall each.
                batch: list[bytes] = []
                for event in decoder.feed(chunk) if chunk else decoder.flush():
                    batch += self._on_event(event)
                    if self._done:
                        break
                if batch:
                    yield b"".join(batch)
                if self._done or not chunk:
                    break
            if self._translator is not None and not self._done:
                for out in self._translator.finish():
                    yield out
            clean = True
        except ProviderError as exc:
            if self._closed:
                return  # closed on purpose (the client left): nobody to tell, not a failure
            self.failed = True
            yield error_event(self._inbound, exc.status, exc.message)
        finally:
            if clean:
                self._resp.release()
            else:
                self._resp.close()

    async def _read(self) -> bytes:
        try:
            return await self._resp.content.readany()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise translate_client_error(self._provider, exc, self._host) from exc

    def _on_event(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if data == b"[DONE]":
            self._done = True
            return [_DONE] if self._translator is None else self._translator.finish()
        # Byte checks only: a JSON object starts with "{" and ends with "}" (what lies
        # between is parsed only when usage or an error is in it).
        if (data[:1] != b"{" or data[-1:] != b"}") and not _braced(data.strip()):
            raise UpstreamServerError(
                f"upstream {self._provider!r} sent a malformed stream event",
                provider=self._provider,
            )
        if event.event == "error" or b'"error"' in data:
            self._check_error(data)
        if self._translator is not None:
            # The translator reads usage itself (it closes the inbound turn with it).
            out = self._translator.feed(event)
            self.usage = self._translator.usage
            return out
        at = data.find(b'"usage"')
        if at >= 0 and not _is_null(data, at + 7) and self._take_usage(data):
            return []
        if b"\n" in data:  # multi-line data (the decoder already turned CRs into LFs)
            return [encode_event(data)]
        return [b"data: " + data + b"\n\n"]

    def _parse(self, data: bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamServerError(
                f"upstream {self._provider!r} sent a malformed stream event",
                provider=self._provider,
            ) from exc

    def _check_error(self, data: bytes) -> None:
        obj = self._parse(data)
        if not isinstance(obj, dict) or "error" not in obj:
            return
        err = obj["error"]
        status = 502
        if isinstance(err, dict):
            for key in ("code", "status"):
                value = err.get(key)
                if isinstance(value, int) and 400 <= value < 600:
                    status = value
                    break
        raise upstream_error(self._provider, status, data)

    def _take_usage(self, data: bytes) -> bool:
        """Record usage; True if this is the usage-only chunk and must not be relayed."""
        obj = self._parse(data)
        if not isinstance(obj, dict):
            return False
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.usage = openai_usage(usage)
        return self._strip and not obj.get("choices")
