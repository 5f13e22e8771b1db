"""The admin web UI: static package data served under ``{base_path}/ui/``.

The UI is a client of the documented ``/api/v1`` JSON API and nothing else; it is plain ES
modules (Preact + htm vendored, see ``static/vendor/VENDOR.md``), so there is no build step.
Every file is read once when the app is built and served from memory: only the files that
exist in the package can be asked for (no path from a client ever reaches the filesystem).
Each answer carries a strict CSP (no inline script or style, no eval, no framing) and the
other security headers. ``index.html`` is never cached, so an upgrade is seen at once; the
static files revalidate by ETag.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

__all__ = ["CSP", "SECURITY_HEADERS", "add_routes"]

ROOT = Path(__file__).resolve().parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'self'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Named here rather than guessed from the host's /etc/mime.types: with nosniff, a module
# served under another type would not load at all.
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".svg": "image/svg+xml", ".md": "text/plain", ".png": "image/png"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    return Asset(body, kind, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def load_assets(root: Path = ROOT / "static") -> dict[str, Asset]:
    """Every file under ``static/`` by its relative path (``pages/keys.js``)."""
    return {p.relative_to(root).as_posix(): _asset(p)
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".py"}


def _respond(asset: Asset, request: web.Request, cache: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": asset.etag}
    charset = "utf-8" if asset.content_type.startswith("text/") else None
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, charset=charset,
                        headers=headers)


def add_routes(app: web.Application, base: str) -> None:
    index = _asset(ROOT / "index.html")
    assets = load_assets()

    async def page(request: web.Request) -> web.Response:
        return _respond(index, request, "no-store")

    async def static(request: web.Request) -> web.Response:
        asset = assets.get(request.match_info["path"])
        if asset is None:
            raise web.HTTPNotFound()
        return _respond(asset, request, "no-cache")

    async def bare(request: web.Request) -> web.Response:
        raise web.HTTPFound("ui/")  # relative: right behind any proxy prefix

    app.router.add_get(f"{base}/ui", bare)
    app.router.add_get(f"{base}/ui/", page)
    app.router.add_get(f"{base}/ui/static/{{path:.+}}", static)
