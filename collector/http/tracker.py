"""GET /js/spii.js: the tracker, minified, precompressed once at start, with a strong ETag so
browsers revalidate cheaply; 304 when unchanged."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from aiohttp import web

__all__ = ["add_routes", "TRACKER", "TRACKER_GZIP"]

STATIC = Path(__file__).resolve().parent / "static"
TRACKER = (STATIC / "spii.min.js").read_bytes()
TRACKER_GZIP = gzip.compress(TRACKER, 9, mtime=0)
ETAG = '"' + hashlib.sha256(TRACKER).hexdigest()[:32] + '"'
HEADERS = {
    "Content-Type": "text/javascript; charset=utf-8",
    "Cache-Control": "public, max-age=3600, stale-while-revalidate=86400",
    "ETag": ETAG,
    "Vary": "Accept-Encoding",
    "X-Content-Type-Options": "nosniff",
    # any site may embed the script; it reads nothing back from the collector
    "Cross-Origin-Resource-Policy": "cross-origin",
}


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*") and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


async def script(request: web.Request) -> web.Response:
    if ETAG in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")):
        return web.Response(status=304, headers={k: v for k, v in HEADERS.items() if k != "Content-Type"})
    if _accepts_gzip(request):
        return web.Response(body=TRACKER_GZIP, headers={**HEADERS, "Content-Encoding": "gzip"})
    return web.Response(body=TRACKER, headers=HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/js/spii.js", script)
