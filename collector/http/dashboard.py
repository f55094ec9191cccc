"""The dashboard: GET /dashboard/{client}. Server-rendered HTML with inline SVG charts, so every
number is there with JavaScript off. Logging in with the analyst token gives a session: an
HttpOnly, SameSite=Strict cookie scoped to the client's dashboard path, Secure over HTTPS (or
behind a trusted TLS proxy), holding a signed ticket, never the token (http/auth.py)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from collector.http.auth import Denied
from collector.http.errors import field_error
from collector.http.state import STATE, State
from collector.http.streamed import PageStream
from collector.reports.overview import PERIOD_CHOICES, Filters, build_overview, render_chunks, templates
from collector.reports.page import PageFetch
from collector.reports.query import QueryError
from collector.http.segments import save_segment
from collector.http.stats import export_response, realtime_response
from collector.reports.request import parse_request
from collector.tenants import Client, RegistryError

__all__ = ["add_routes"]

COOKIE = "spii_session"
COOKIE_SECONDS = 8 * 3600
SCRIPT = (Path(__file__).resolve().parent / "dashboard.js").read_bytes()
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}


def _page(html: str, status: int = 200) -> web.Response:
    return web.Response(text=html, status=status, content_type="text/html", headers=SECURITY_HEADERS)


def _login(name: str, request: web.Request, message: str = "", status: int = 200) -> web.Response:
    login_url = f"/dashboard/{request.match_info['client']}/login"
    return _page(templates.get_template("login.html").render(name=name, message=message, login_url=login_url), status)


def _refused(name: str, request: web.Request, status: int, unauthenticated: str) -> web.Response:
    """The login page again, saying why a token was refused (``unauthenticated`` for 401)."""
    message = {403: "This token cannot open this dashboard.", 429: "Too many requests: wait a moment."}.get(status, unauthenticated)
    return _login(name, request, message, status)


def _cookie_tickets(request: web.Request) -> list[str]:
    """Every session cookie the browser sent: cookies of the same name from different paths all
    arrive, and request.cookies keeps only one of them."""
    tokens = []
    for header in request.headers.getall("Cookie", []):
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                tokens.append(value.strip('"'))
    return tokens


def _client(state: State, request: web.Request) -> Client | None:
    return state.registry.get().find(request.match_info["client"])


def _logged_in(state: State, request: web.Request) -> Client | web.Response:
    """The dashboard's client when the request's session opens it; else the login page saying why
    (``_session_client``: the same for the page's own requests, refused in JSON)."""
    client = _client(state, request)
    if client is None:
        return _login(request.match_info["client"], request, "Unknown site, or this token cannot open it.", 404)
    tickets = _cookie_tickets(request)
    if not tickets:
        return _login(client.name, request)
    refusal = None
    for ticket in tickets:
        try:
            state.auth.client_for_session(ticket, client.client_id, state.registry.get())
            return client
        except Denied as denied:
            refusal = denied.response.status
    return _refused(client.name, request, refusal or 401, "Please log in again.")


async def dashboard(request: web.Request) -> web.Response:
    state = request.app[STATE]
    client = _logged_in(state, request)
    if isinstance(client, web.Response):
        return client
    base = f"/dashboard/{client.name}"
    return await render_dashboard(request, client, logout_url=f"{base}/logout", realtime_url=f"{base}/realtime", export_url=f"{base}/export",
                                  segments_url=f"{base}/segments")


async def save_as_segment(request: web.Request) -> web.StreamResponse:
    """The dashboard's "Save as segment" form: the page's filters under a name, then the page
    filtered by the new segment (its URL shares it). The session cookie is SameSite=Strict, so
    another site cannot post this form in the analyst's name."""
    state = request.app[STATE]
    client = _logged_in(state, request)
    if isinstance(client, web.Response):
        return client
    form = await request.post()
    name, filters, period = str(form.get("name", "")).strip(), str(form.get("filters", "")), str(form.get("period", "30d"))
    try:
        save_segment(state, client, name, filters)
    except QueryError as exc:
        return field_error(400, "invalid segment", exc.field, exc.problem)
    except RegistryError as exc:
        return field_error(409, "invalid segment", "name", str(exc))
    target = Filters(f"segment=={name}", period if period in dict(PERIOD_CHOICES) else "30d")
    raise web.HTTPSeeOther(f"/dashboard/{client.name}" + target.url(target.active))


async def render_dashboard(request: web.Request, client: Client, **urls: str) -> web.StreamResponse:
    """The dashboard page of ``client`` for the request's period and filters (``?filters=``):
    its head (totals, chart) computed first, then sent while its panels are computed
    (http/streamed.py)."""
    state = request.app[STATE]
    period = request.query.get("period", "30d")
    if period not in dict(PERIOD_CHOICES):
        period = "30d"
    summary = {"name": client.name, "client_id": client.client_id}
    page = PageStream(state.reports)
    questions = PageFetch(state.stats, client, parse_request)
    fetch = page.fetching(questions)
    try:
        filters = Filters(request.query.get("filters"), period, request.query)
        overview = await state.in_report_thread(lambda: build_overview(fetch, summary, period, filters=filters.text, lazy_panels=True,
                                                                           expect=questions.expect, panels=filters.panels,
                                                                           imported=filters.imported))
    except QueryError as exc:
        return field_error(400, "invalid query", exc.field, exc.problem)
    overview["realtime"] = await state.in_report_thread(state.stats.realtime, client)
    has_imports = await state.in_report_thread(state.stats.has_imports, client)
    if "export_url" in urls:
        urls["export_url"] += filters.url(filters.active, tabs={})
    return await page.send(request, render_chunks(overview, interactive=True, filters=filters, geoip=state.settings.geoip_db is not None,
                                                  segments=client.segments, has_imports=has_imports, **urls), SECURITY_HEADERS)


async def login(request: web.Request) -> web.Response:
    state = request.app[STATE]
    client = _client(state, request)
    if client is None:
        return _login(request.match_info["client"], request, "Unknown site.", 404)
    form = await request.post()
    token = str(form.get("token", "")).strip()
    try:
        state.auth.client_for(token or None, client.client_id, state.registry.get())
    except Denied as denied:
        return _refused(client.name, request, denied.response.status, "Invalid token.")
    response = web.HTTPSeeOther(f"/dashboard/{client.name}", headers=SECURITY_HEADERS)
    response.set_cookie(COOKIE, state.auth.new_session(client, token, COOKIE_SECONDS),
                        max_age=COOKIE_SECONDS, path=f"/dashboard/{client.name}", httponly=True, samesite="Strict",
                        secure=_over_tls(request, state))
    return response


def _over_tls(request: web.Request, state: State) -> bool:
    """HTTPS here, or at a trusted proxy in front of us that says so."""
    if request.secure:
        return True
    return bool(request.remote) and request.remote in state.trusted and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


async def logout(request: web.Request) -> web.Response:
    name = request.match_info["client"]
    for ticket in _cookie_tickets(request):
        request.app[STATE].auth.end_session(ticket)
    response = web.HTTPSeeOther(f"/dashboard/{name}", headers=SECURITY_HEADERS)
    response.del_cookie(COOKIE, path=f"/dashboard/{name}")
    return response


async def script(request: web.Request) -> web.Response:
    return web.Response(body=SCRIPT, content_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})


def _session_client(request: web.Request) -> Client | web.Response:
    """The dashboard's client when a session cookie opens it, else the refusal to answer."""
    state = request.app[STATE]
    client = _client(state, request)
    if client is None:
        return field_error(404, "unknown site", "client", "no such dashboard")
    for ticket in _cookie_tickets(request):
        try:
            state.auth.client_for_session(ticket, client.client_id, state.registry.get())
            return client
        except Denied:
            continue
    return field_error(401, "log in first", "cookie", "open the dashboard and log in with your token")


async def export(request: web.Request) -> web.StreamResponse:
    """The dashboard's Export button: the same ZIP as /api/v1/stats/export, opened by the session."""
    client = _session_client(request)
    return client if isinstance(client, web.Response) else await export_response(request.app[STATE], client, request.query)


async def realtime(request: web.Request) -> web.StreamResponse:
    """The dashboard's realtime line, refreshed every 30 s by dashboard.js."""
    client = _session_client(request)
    return client if isinstance(client, web.Response) else await realtime_response(request.app[STATE], client)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard/{client}", dashboard)
    app.router.add_get("/dashboard/{client}/export", export)
    app.router.add_get("/dashboard/{client}/realtime", realtime)
    app.router.add_post("/dashboard/{client}/login", login)
    app.router.add_post("/dashboard/{client}/segments", save_as_segment)
    app.router.add_post("/dashboard/{client}/logout", logout)
    app.router.add_get("/dashboard.js", script)
