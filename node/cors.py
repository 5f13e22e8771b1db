"""Cross-origin requests: ``server.cors`` for the gateway routes, ``server.admin_cors`` for
``/api/v1``, each off unless it lists origins.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered by
:meth:`Cors.middleware` before any authentication: browsers send it without credentials, so
it can never pass the gateway's key check or the admin middleware. Actual requests get their
``Access-Control-*`` headers from the response-prepare hook (:mod:`node.middleware`), where a
stream's headers leave too. An origin outside the policy gets no CORS header at all and the
browser refuses the answer; a refused preflight is a plain 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from node.config import Settings
from node.config.edge import CorsSection

__all__ = ["Cors", "CorsPolicy"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Headers a browser script may read from an answer: the gateway's own and the rate limits.
EXPOSED = ", ".join((
    "x-request-id", "x-at-overhead-ms", "x-at-provider", "x-at-model", "x-at-attempts",
    "x-at-cost-usd", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens", "retry-after"))


class CorsPolicy:
    """One policy, its header values computed once."""

    def __init__(self, section: CorsSection) -> None:
        self._origins = frozenset(section.allow_origins)
        self._any_origin = "*" in self._origins
        self._methods = frozenset(m.upper() for m in section.allow_methods)
        self._headers = frozenset(h.lower() for h in section.allow_headers)
        self._any_header = "*" in self._headers
        self._credentials = section.allow_credentials
        allow_methods = ", ".join(sorted(self._methods))
        self._preflight = {"Access-Control-Allow-Methods": allow_methods,
                           "Access-Control-Max-Age": str(section.max_age)}
        self._actual = {"Access-Control-Expose-Headers": EXPOSED}
        if self._credentials:
            self._preflight["Access-Control-Allow-Credentials"] = "true"
            self._actual["Access-Control-Allow-Credentials"] = "true"

    def allows(self, origin: str) -> bool:
        return self._any_origin or origin in self._origins

    def _allow_origin(self, origin: str) -> str:
        # "*" only when any origin may call without credentials; otherwise the one origin.
        return "*" if self._any_origin and not self._credentials else origin

    def preflight(self, request: web.Request, origin: str) -> web.Response:
        method = request.headers.get("Access-Control-Request-Method", "").upper()
        asked = [h.strip().lower() for h in
                 request.headers.get("Access-Control-Request-Headers", "").split(",")
                 if h.strip()]
        if not self.allows(origin):
            return _refused(f"origin {origin!r} is not allowed")
        if method not in self._methods:
            return _refused(f"method {method!r} is not allowed")
        refused = [h for h in asked if not self._any_header and h not in self._headers]
        if refused:
            return _refused(f"header {refused[0]!r} is not allowed")
        headers = {**self._preflight, "Access-Control-Allow-Origin": self._allow_origin(origin),
                   "Vary": "Origin"}
        if asked:
            headers["Access-Control-Allow-Headers"] = ", ".join(asked)
        return web.Response(status=204, headers=headers)

    def actual(self, origin: str) -> dict[str, str]:
        """The headers of an answer to ``origin`` (empty when the origin is not allowed)."""
        if not self.allows(origin):
            return {}
        return {**self._actual, "Access-Control-Allow-Origin": self._allow_origin(origin),
                "Vary": "Origin"}


def _refused(reason: str) -> web.Response:
    return web.Response(status=403, text=f"CORS preflight refused: {reason}\n",
                        headers={"Vary": "Origin"})


class Cors:
    """The two policies of a node and which paths each covers."""

    def __init__(self, settings: Settings) -> None:
        server = settings.server
        self._admin_prefix = f"{server.base_path}/api/v1"
        self._gateway = _policy(server.cors)
        self._admin = _policy(server.admin_cors)

    @classmethod
    def of(cls, settings: Settings) -> Cors | None:
        """The node's CORS, or None when both policies are off (no cost on any request)."""
        cors = cls(settings)
        return cors if cors._gateway is not None or cors._admin is not None else None

    def policy_for(self, path: str) -> CorsPolicy | None:
        admin = path == self._admin_prefix or path.startswith(self._admin_prefix + "/")
        return self._admin if admin else self._gateway

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and _is_preflight(request):
            policy = self.policy_for(request.path)
            if policy is not None:
                return policy.preflight(request, origin)
        return await handler(request)

    def headers_for(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or _is_preflight(request):
            return {}  # a preflight's answer carries its own headers, or (refused) none
        policy = self.policy_for(request.path)
        return policy.actual(origin) if policy is not None else {}


def _is_preflight(request: web.Request) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _policy(section: CorsSection | None) -> CorsPolicy | None:
    return CorsPolicy(section) if section is not None and section.allow_origins else None
