"""``Redactor``: every secret of one provider, removed from error text bound for a client.

Some upstreams and proxies echo the request in their error bodies (401 pages that list the
headers received), and the gateway relays upstream error text to the client holding a
gateway key. That text must never carry the provider's own credentials: its ``api_key``,
each ``extra_headers`` value, the proxy's userinfo and the ``Proxy-Authorization`` made
from it, Vertex's ``credentials_file`` path and its bearer token (learnt per request). Each
secret is searched as sent and as an echo may have re-encoded it (URL-encoded, JSON-escaped,
base64, whitespace collapsed), and a secret cut short by the message length limit is caught
at the cut.

One ``Redactor`` is built per adapter. Nothing runs on the happy path: the pattern is
compiled on the first error, and only error messages made from upstream text pass here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from typing import Final
from urllib.parse import quote, quote_plus, unquote

from yarl import URL

from providers.errors import ProviderError
from providers.transport.dial import basic_auth
from providers.types import ProviderConfig

__all__ = ["MARKER", "Redactor"]

MARKER: Final = "[redacted]"
_SHORTEST: Final = 4
"""Shorter values are not searched: they would shred ordinary words and protect nothing."""
_SHORTEST_PART: Final = 8
"""A multi-word secret (``Bearer <token>``) is also searched word by word, for words this
long (so the token alone is caught, but not ``Bearer``)."""
_CLIP: Final = "..."


def config_secrets(config: ProviderConfig) -> Iterator[str]:
    """The credentials ``config`` sends upstream, in the form they are sent."""
    yield config.api_key
    yield from config.extra_headers.values()
    yield config.credentials_file  # where the node keeps a service account's private key
    if config.proxy:
        proxy = URL(config.proxy)
        if proxy.user is not None or proxy.password is not None:
            yield proxy.raw_user or ""
            yield proxy.raw_password or ""
            yield proxy.password or ""
            yield f"{proxy.user or ''}:{proxy.password or ''}"
            yield f"{proxy.raw_user or ''}:{proxy.raw_password or ''}"
            yield basic_auth(proxy)


def _forms(secret: str) -> Iterator[str]:
    """``secret`` as an echo may show it."""
    yield secret
    yield quote(secret, safe="")
    yield quote(secret)
    yield quote_plus(secret)
    yield unquote(secret)
    yield json.dumps(secret)[1:-1]
    yield " ".join(secret.split())
    raw = secret.encode()
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        yield encoded
        yield encoded.rstrip("=")
    for word in secret.split():
        if len(word) >= _SHORTEST_PART and word != secret:
            yield from _forms(word)


class Redactor:
    """Replaces each known secret (in every form it may be echoed in) by ``MARKER``."""

    __slots__ = ("_forms", "_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._forms: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    @classmethod
    def of(cls, config: ProviderConfig) -> Redactor:
        return cls(config_secrets(config))

    def add(self, secret: str) -> None:
        """Also redact ``secret`` from now on (cheap when it is known already)."""
        if len(secret) < _SHORTEST or secret in self._secrets:
            return
        self._secrets.add(secret)
        self._pattern = None

    def text(self, text: str) -> str:
        """``text`` with every secret replaced by ``MARKER``."""
        if not self._secrets:
            return text
        pattern = self._pattern or self._compile()
        text = pattern.sub(MARKER, text)
        if text.endswith(_CLIP):
            text = self._cut_tail(text[: -len(_CLIP)]) + _CLIP
        return text

    def scrub(self, exc: ProviderError) -> ProviderError:
        """Redact ``exc``'s message in place; returns ``exc`` for ``raise``."""
        clean = self.text(exc.message)
        if clean != exc.message:
            exc.message = clean
            exc.args = (clean,)
        return exc

    def _compile(self) -> re.Pattern[str]:
        forms = {form for secret in self._secrets for form in _forms(secret)}
        self._forms = sorted({f.lower() for f in forms if len(f) >= _SHORTEST}, key=len,
                             reverse=True)
        # Longest first, so a secret is replaced whole before any part of it; case is
        # ignored for percent-escapes (%2f and %2F) at the cost of rare over-redaction.
        self._pattern = re.compile("|".join(map(re.escape, self._forms)), re.IGNORECASE)
        return self._pattern

    def _cut_tail(self, text: str) -> str:
        """A message clipped to its length limit may end in the first part of a secret."""
        lowered = text.lower()
        cut = 0
        for form in self._forms:
            tail = lowered[-(len(form) - 1):]  # a whole form was replaced already
            start = tail.find(form[0])
            while 0 <= start <= len(tail) - _SHORTEST:
                if form.startswith(tail[start:]):
                    cut = max(cut, len(tail) - start)
                    break
                start = tail.find(form[0], start + 1)
        return text[:-cut] + MARKER if cut else text
