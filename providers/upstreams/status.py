"""A non-2xx upstream response becomes the ``ProviderError`` its status and body call for."""

from __future__ import annotations

from providers.const import ERROR_BODY_LIMIT
from providers.errors import ProviderError
from providers.transport.connection import UpstreamResponse
from providers.upstream_errors import upstream_error

__all__ = ["raise_for_status"]


async def raise_for_status(resp: UpstreamResponse) -> None:
    """Raise ``upstream_error`` for a non-2xx response, after reading (part of) its body."""
    if 200 <= resp.status < 300:
        return
    body = b""
    try:
        body = await resp.read(ERROR_BODY_LIMIT)
    except ProviderError:
        pass  # the status alone still says what happened
    finally:
        # Keep the connection for the next request (429 storms) unless the body was cut.
        resp.release()
    raise upstream_error(resp.provider, resp.status, body, resp.headers.get("retry-after"))
