"""The stats API, shaped like Plausible's Stats API v1: /api/v1/stats/aggregate, /timeseries and
/breakdown, each for one client (site_id) with a Bearer token scoped to it. Every number has
passed small-count suppression (reports/suppression.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from collector.http.auth import Denied, bearer_token
from collector.http.errors import field_error
from collector.http.state import STATE
from collector.reports.periods import PERIOD_CHOICES
from collector.reports.query import QueryError
from collector.reports.request import parse_request, query_flag

__all__ = ["add_routes", "ENDPOINTS"]

ENDPOINTS = ("aggregate", "timeseries", "breakdown", "receiving")  # each one a Stats method of that name


def _site_client(request: web.Request, state: Any) -> Any:
    """The client of ``site_id`` (default: the token's own) if the request's token may read it;
    Denied otherwise."""
    return state.auth.client_for(bearer_token(request), request.query.get("site_id"), state.registry.get())


async def _answered(state: Any, endpoint: str, compute: Callable[[], Awaitable[Any]]) -> web.Response:
    """A report as JSON (counted by endpoint), or the refusal: a denied token, a bad parameter
    named (400), or the answer ``compute`` chose itself."""
    try:
        result = await compute()
    except Denied as denied:
        return denied.response
    except QueryError as exc:
        return field_error(400, "invalid query", exc.field, exc.problem)
    if isinstance(result, web.Response):
        return result
    state.metrics.stats_queries.labels(endpoint).inc()
    return web.json_response(result, headers={"Cache-Control": "private, no-store"})


def report_handler(endpoint: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of one endpoint: auth, parameters, then Stats.<endpoint> in a worker thread."""

    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE]

        async def compute() -> Any:
            client = _site_client(request, state)
            return await state.in_report_thread(getattr(state.stats, endpoint), client, parse_request(request.query))

        return await _answered(state, endpoint, compute)

    return handler


def export_response(state: Any, client: Any, query: Mapping[str, str]) -> Awaitable[web.Response]:
    """The ZIP of ``client``'s report for ``period`` (and ``date``): 400 for a bad period, 429
    with Retry-After when the client's differential-privacy budget for the month is spent."""
    from collector.reports.export import build_export
    from collector.reports.privacy_budget import BudgetSpent, DpUnavailable

    async def respond() -> web.Response:
        period = query.get("period", "30d")
        if period not in dict(PERIOD_CHOICES):
            return field_error(400, "invalid query", "period", f"one of {', '.join(p for p, _ in PERIOD_CHOICES)}")
        try:
            body, name = await state.in_report_thread(
                build_export, state.stats, state.ledger, client, period, query.get("date"), query.get("filters", ""),
                query.get("imported") == "1" or query_flag(query, "with_imported"))
        except BudgetSpent as spent:
            response = field_error(429, "privacy budget spent", "period", str(spent))
            response.headers["Retry-After"] = str(int((datetime.combine(spent.renews, datetime.min.time(), UTC)
                                                       - datetime.now(UTC)).total_seconds()) + 1)
            return response
        except QueryError as exc:
            return field_error(400, "invalid query", exc.field, exc.problem)
        except DpUnavailable as exc:
            return field_error(501, "differential privacy is not installed", "dp_budget", str(exc))
        state.metrics.stats_queries.labels("export").inc()
        return web.Response(body=body, content_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"})

    return respond()


async def realtime_response(state: Any, client: Any) -> web.Response:
    """A bare integer, as Plausible's: distinct visitors in the last 5 minutes. Fewer than k
    answer 0 with ``X-SPII-Suppressed: true``."""
    visitors = await state.in_report_thread(state.stats.realtime, client)
    state.metrics.stats_queries.labels("realtime").inc()
    headers = {"Cache-Control": "private, no-store", **({"X-SPII-Suppressed": "true"} if visitors is None else {})}
    return web.json_response(visitors or 0, headers=headers)


async def realtime(request: web.Request) -> web.Response:
    """GET /api/v1/stats/realtime/visitors?site_id="""
    state = request.app[STATE]
    try:
        client = _site_client(request, state)
    except Denied as denied:
        return denied.response
    return await realtime_response(state, client)


async def funnel(request: web.Request) -> web.Response:
    """GET /api/v1/stats/funnel?site_id=&period=&funnel=NAME: each step's visitors, conversion
    and drop-off."""
    state = request.app[STATE]

    async def compute() -> Any:
        client = _site_client(request, state)
        name = request.query.get("funnel")
        if not name:
            raise QueryError("funnel", "the funnel's name: funnel=NAME (spii funnels list CLIENT)")
        return await state.in_report_thread(state.stats.funnel, client, parse_request(request.query), name)

    return await _answered(state, "funnel", compute)


async def query_v2(request: web.Request) -> web.Response:
    """POST /api/v2/query: Plausible's Stats API v2 (reports/v2.py)."""
    from collector.reports.v2 import parse_v2

    state = request.app[STATE]

    async def compute() -> Any:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise QueryError("body", "expected a JSON object") from None
        site = body.get("site_id") if isinstance(body, dict) else None
        client = state.auth.client_for(bearer_token(request), site if isinstance(site, str) else None, state.registry.get())
        return await state.in_report_thread(state.stats.query_v2, client, parse_v2(body))

    return await _answered(state, "v2", compute)


async def export(request: web.Request) -> web.Response:
    """GET /api/v1/stats/export?site_id=&period=: the report as a ZIP of CSV files."""
    state = request.app[STATE]
    try:
        client = _site_client(request, state)
    except Denied as denied:
        return denied.response
    return await export_response(state, client, request.query)


def add_routes(app: web.Application) -> None:
    for endpoint in ENDPOINTS:
        app.router.add_get(f"/api/v1/stats/{endpoint}", report_handler(endpoint))
    app.router.add_get("/api/v1/stats/export", export)
    app.router.add_get("/api/v1/stats/realtime/visitors", realtime)
    app.router.add_get("/api/v1/stats/funnel", funnel)
    app.router.add_post("/api/v2/query", query_v2)
