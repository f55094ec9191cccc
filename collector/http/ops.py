"""Operational endpoints: /healthz, /readyz, /metrics, /openapi.json."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from collector.http.state import STATE


INDEX = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>spii collector</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#111}code{background:#f1f1f3;padding:1px 4px}</style>
</head><body><h1>spii collector</h1><p>This collector is running. Site owners embed <code>&lt;script defer data-domain="example.com"
src="/js/spii.js"&gt;&lt;/script&gt;</code>; analysts open <code>/dashboard/&lt;site name&gt;</code> with their token.</p>
<p><a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/openapi.json">/openapi.json</a></p></body></html>"""


async def index(request: web.Request) -> web.Response:
    """A plain page for people who open the collector's address in a browser."""
    return web.Response(text=INDEX, content_type="text/html", headers={"Cache-Control": "public, max-age=3600",
                                                                       "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Cache-Control": "public, max-age=86400"})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store answers, a key covers now, and the spool can take events (under its
    budget, above the free-space floor, its last write not failed); ``spool_refusal`` says why not."""
    state = request.app[STATE]
    loop = asyncio.get_running_loop()
    store_ok = await loop.run_in_executor(None, state.store.ping)
    # with auto-rotate, a missing current key is created here as it would be by the next event
    key_ok = state.keys.has_current() or await state.keys.supply_current()
    state.spool.check_space()
    refusal = state.spool.refusal()
    checks = {"store": store_ok, "current_key": key_ok, "spool_under_budget": not state.spool.over_budget, "spool_writable": refusal is None}
    ok = all(checks.values())
    keys = {"epochs_ahead": state.keys.epochs_ahead(), "min_ahead": state.keys.min_ahead, "auto_rotate": state.keys.auto_rotate}
    # serving goes on from memory, so still ready; but the next start would refuse the file: say so
    # (a store refusing inserts leaves the node ready too: the spool keeps the events)
    warnings = [error for error in (state.keyring.last_error, state.registry.last_error, state.shipper.warning()) if error]
    return web.json_response(
        {"status": "ready" if ok else "not ready", "checks": checks, "keys": keys, "spool_bytes": state.spool.used_bytes,
         "spool_refusal": refusal, "warnings": warnings},
        status=200 if ok else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.metrics.spool_bytes.set(state.spool.used_bytes)
    state.metrics.keys_ahead.set(state.keys.epochs_ahead())
    state.metrics.files_unloadable.set(sum(1 for f in (state.keyring, state.registry) if f.last_error))
    return web.Response(body=state.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    from collector.http.openapi import openapi_spec  # (imports every API's models: built on first use)

    return web.json_response(openapi_spec())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
