"""The node's runner: the gateway's own POST routes reach their handler without the router.

For every request aiohttp's ``Application._handle`` resolves the path through the router (a
coroutine per candidate resource), builds and freezes a match info, looks up the middleware
chain and wraps the handler in one more coroutine that sets the current app. For the routes
that carry the traffic (``POST /v1/chat/completions``, ``/v1/messages``, ``/v1/responses``
...) none of that changes from one request to the next: :class:`HotRoutes` resolves each such
path once, keeps its frozen match info and its handler already wrapped in the root app's
middlewares, and hands later requests straight to them (a few µs of a request's 0.25 ms).

Only what is the same for every request is taken this way: a POST to a plain path (no
``{variable}``) of the root application with no ``Expect`` header. Everything else (sub-apps
such as the admin API, Gemini's model paths, unknown paths and methods) goes through
``Application._handle`` unchanged. A shared match info is safe: a frozen one of a plain path
is an empty mapping that no handler writes, and with one application its current app never
changes.

This relies on aiohttp 3.x internals (``AppRunner._make_server``, ``Server.request_handler``,
``Request._match_info``); aiohttp is pinned below 4.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import PlainResource, UrlMappingMatchInfo

__all__ = ["HotRoutes", "NodeRunner"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HotRoutes:
    """A server's request handler: the hot POST routes directly, the rest through the app."""

    def __init__(self, app: web.Application,
                 fallback: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]) -> None:
        self._app = app
        self._fallback = fallback
        # path -> (its frozen match info, its handler inside the root app's middlewares);
        # None: a path seen and found not to be hot. Bounded by the routes the app has:
        # only a path that resolved to one of its plain resources is kept.
        self._routes: dict[str, tuple[UrlMappingMatchInfo, Handler] | None] = {}

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method == "POST" and "Expect" not in request.headers:
            routes = self._routes
            path = request.rel_url.path_safe  # what the router matches resources on
            found = routes[path] if path in routes else await self._learn(request, path)
            if found is not None:
                match_info, handler = found
                request._match_info = match_info  # type: ignore[attr-defined]
                return await handler(request)  # type: ignore[arg-type]
        return await self._fallback(request)

    def remembered(self) -> dict[str, bool]:
        """Each path resolved so far, and whether it is taken directly (True) or through the
        app (False)."""
        return {path: found is not None for path, found in self._routes.items()}

    async def _learn(self, request: web.BaseRequest, path: str
                     ) -> tuple[UrlMappingMatchInfo, Handler] | None:
        """Resolve ``request``'s path once; remember whether it is a hot route."""
        app = self._app
        match_info = await app.router.resolve(request)  # type: ignore[arg-type]
        if match_info.http_exception is not None or not isinstance(
                match_info.route.resource, PlainResource):
            # Not remembered: a 404 or 405, or a path with variables (Gemini's carries the
            # model), would make the table as large as what clients choose to send.
            return None
        if match_info.route.method != "POST" or match_info.apps:  # a sub-app's route
            self._routes[path] = None
            return None
        assert isinstance(match_info, UrlMappingMatchInfo)
        match_info.add_app(app)
        match_info.freeze()
        handler: Handler = match_info.handler
        for middleware in reversed(app.middlewares):
            # aiohttp's new-style middlewares, as the app would call them
            assert getattr(middleware, "__middleware_version__", None) == 1, middleware
            handler = partial(middleware, handler=handler)
        found = self._routes[path] = (match_info, handler)
        return found


class NodeRunner(web.AppRunner):
    """``web.AppRunner`` whose server takes the hot routes directly (:class:`HotRoutes`)."""

    async def _make_server(self) -> Any:
        server = await super()._make_server()
        server.request_handler = HotRoutes(self.app, server.request_handler)
        return server
