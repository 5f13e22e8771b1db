"""``SseStream``: relays an upstream SSE response through a ``StreamTranslator``.

Used by the Anthropic and Gemini adapters for every inbound dialect: a cross-dialect
translator, or one of the pass-through handlers here, which forward each event as it
came and only look inside the few events that carry usage or an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import orjson

from providers.dialects import DIALECTS
from providers.dialects.anthropic.errors import anthropic_error
from providers.dialects.streams import cut_short, load_event, malformed
from providers.errors import ProviderError
from providers.sse import SSEDecoder, SSEEvent, encode_event, object_like, string_marks
from providers.translate import StreamTranslator
from providers.transport.connection import UpstreamResponse
from providers.types import Dialect, Usage
from providers.upstream_errors import upstream_error

__all__ = ["AnthropicPassthrough", "GeminiPassthrough", "SseStream"]


# What ends a Gemini answer: a candidate's finishReason (a string, not null), or a blocked
# prompt's blockReason.
_GEMINI_ENDS = (*string_marks(b"finishReason"), *string_marks(b"blockReason"))
# An Anthropic error event, known by its type when a server sends no event line.
_ANTHROPIC_ERROR = string_marks(b"type", b'error"')


def _finishes(data: bytes) -> bool:
    """Whether a Gemini chunk ends the answer."""
    return any(mark in data for mark in _GEMINI_ENDS)


class AnthropicPassthrough:
    """Anthropic to Anthropic: events are re-framed unchanged; usage is read on the side."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.usage = Usage()
        self.done = False  # message_stop: the relay stops there

    def feed(self, event: SSEEvent) -> list[bytes]:
        name = event.event
        data = event.data
        if name == "error" or _ANTHROPIC_ERROR[0] in data or _ANTHROPIC_ERROR[1] in data:
            raise anthropic_error(self.provider, data)
        if not object_like(data):
            raise malformed(self.provider)
        if name in ("message_start", "message_delta"):
            self._usage(data)
        elif name == "message_stop":
            self.done = True
        return [encode_event(data, event=name)]

    def _usage(self, data: bytes) -> None:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict):
            return  # relayed as it came: judging it is the client's business
        message = obj.get("message")
        raw = obj.get("usage") or (message.get("usage") if isinstance(message, dict) else None)
        if not isinstance(raw, dict):
            return
        now = DIALECTS["anthropic"].usage_from(raw)
        self.usage = Usage(
            input_tokens=now.input_tokens or self.usage.input_tokens,
            output_tokens=now.output_tokens or self.usage.output_tokens,
            cache_read_tokens=now.cache_read_tokens or self.usage.cache_read_tokens,
            cache_write_tokens=now.cache_write_tokens or self.usage.cache_write_tokens,
        )

    def finish(self) -> list[bytes]:
        if not self.done:
            raise cut_short(self.provider, "message_stop")
        return []


class GeminiPassthrough:
    """Gemini to Gemini: chunks go out as they came; errors and usage are read."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.usage = Usage()
        self._finished = False  # a candidate carried its finishReason

    def feed(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if not object_like(data):
            raise malformed(self.provider)
        if not self._finished and _finishes(data):
            self._finished = True
        if b'"error"' in data:  # anywhere: pretty-printed or after other fields
            obj = load_event(self.provider, data)
            err = obj.get("error") if isinstance(obj, dict) else None
            if isinstance(err, dict):
                code = err.get("code")
                status = code if isinstance(code, int) and 400 <= code < 600 else 502
                raise upstream_error(self.provider, status, data)
        if b'"usageMetadata"' in data:
            obj = load_event(self.provider, data)
            if isinstance(obj, dict):
                self.usage = DIALECTS["gemini"].usage_from(obj.get("usageMetadata"))
        return [encode_event(data)]  # multi-line data: a "data:" line for each line

    def finish(self) -> list[bytes]:
        if not self._finished:
            raise cut_short(self.provider, "a finishReason")
        return []


class _Reader:
    """Cuts upstream reads into events to decode, or, for a handler that can pass whole
    blocks of events through unparsed (``raw``: OpenAI to OpenAI), blocks cut at the last
    event boundary of each read."""

    __slots__ = ("_decoder", "_pending", "_raw")

    def __init__(self, handler: StreamTranslator) -> None:
        self._decoder = SSEDecoder()
        self._raw: Callable[[bytes], bytes | None] | None = getattr(handler, "raw", None)
        self._pending = b""

    def take(self, chunk: bytes, ended: bool) -> tuple[bytes | None, list[SSEEvent]]:
        """(bytes to relay as they are or None, events to feed the handler)."""
        decoder = self._decoder
        if self._raw is not None:
            block = self._pending + chunk if self._pending else chunk
            edge = block.rfind(b"\n\n")
            cut = len(block) if ended else edge + 2 if edge >= 0 else 0
            if cut == 0 and b"\r" in block:
                self._raw, cut = None, len(block)   # CR line ends: event by event from now
            chunk, self._pending = block[:cut], block[cut:]
            passed = self._raw(chunk) if self._raw is not None and chunk else None
            if passed is not None:
                return passed, []
        events = decoder.feed(chunk) if chunk else []
        if ended:
            events += decoder.flush()
        return None, events


class SseStream:
    """An open upstream SSE stream, translated for the inbound dialect (``Stream``)."""

    def __init__(
        self,
        resp: UpstreamResponse,
        *,
        provider: str,
        inbound: Dialect,
        handler: StreamTranslator,
        scrub: Callable[[ProviderError], object] | None = None,
    ) -> None:
        """``scrub`` removes the provider's secrets from an error before it is relayed
        (applied only when one happens: nothing per event)."""
        self.usage = Usage()
        self.failed = False
        self.final = False
        self.error = ""
        self._resp = resp
        self._provider = provider
        self._inbound = inbound
        self._handler = handler
        self._scrub = scrub
        self._closed = False
        self._gen: AsyncGenerator[bytes, None] | None = None

    @property
    def arrived(self) -> bool:
        """The upstream's whole body is in hand (a short answer often comes in one read)."""
        return self._resp.arrived

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
        reader = _Reader(self._handler)
        handler = self._handler
        released = False
        frames: list[bytes] = []
        try:
            while True:
                chunk = await self._resp.readany()
                # A body that is complete already ends here: its last events then leave with
                # the end of the client's response, in one write.
                ended = not chunk or self._resp.complete
                passed, events = reader.take(chunk, ended)
                frames = [] if passed is None else [passed]
                # Everything one upstream read completes goes out as one write: a socket
                # write per event would cost a syscall each.
                done = getattr(handler, "done", False)
                for event in events:
                    frames += handler.feed(event)
                    # A handler may mark the end of the stream (OpenAI's [DONE]) before the
                    # upstream closes it: stop there instead of waiting.
                    done = getattr(handler, "done", False)
                    if done:
                        break
                if done or ended:
                    break
                if frames:
                    yield b"".join(frames)
                    frames = []  # sent: a failure now must not send them again
            frames += handler.finish()
            # Settle before the last yield: the consumer may stop iterating right there.
            self.usage = handler.usage
            self._resp.release()
            released = True
            self.final = True
            yield b"".join(frames)
        except ProviderError as exc:
            if self._closed:
                return  # closed on purpose (the client left): nobody to tell
            self.failed = True
            self.final = True
            if self._scrub is not None:
                self._scrub(exc)
            self.error = exc.message
            # The events translated before the failure still go out, then the error.
            error = DIALECTS[self._inbound].error_event(exc.status, exc.message, code=exc.code)
            yield b"".join(frames) + error
        finally:
            self.usage = handler.usage
            if not released:
                self._resp.close()
