"""Shared links: GET /share/{token} opens one client's dashboard read-only, without an analyst
token, for colleagues of the client's group (``spii clients share``). The link's token is
stored hashed; a link may expire (after its last day, UTC) and may need a password, which opens
a session cookie scoped to the link. The link opens the dashboard page and its realtime line
only: it is never accepted by the stats, export, admin or subject APIs. Requests through a link
have their own request budget, as tokens do."""

from __future__ import annotations

from aiohttp import web

from collector.http.auth import Denied
from collector.http.dashboard import SECURITY_HEADERS, _page, render_dashboard
from collector.http.state import STATE
from collector.http.stats import realtime_response
from collector.reports.overview import templates
from collector.tenants import Client, ShareRecord, verify_password

__all__ = ["add_routes"]

COOKIE = "spii_share"
COOKIE_SECONDS = 8 * 3600
GONE = "This link does not open a dashboard: it was revoked or has expired, or it was mistyped."


def _shared(request: web.Request) -> tuple[Client, ShareRecord] | web.Response:
    """The client and share of the link, throttled; the refusal page otherwise (the same for a
    revoked, an expired and an unknown link: nothing to probe)."""
    state = request.app[STATE]
    token = request.match_info["token"]
    found = state.registry.get().for_share(token)
    if found is None or found[1].expired():
        return _page(templates.get_template("login.html").render(name="Shared dashboard", message=GONE, login_url=None), 404)
    try:
        state.auth.throttle(token)
    except Denied as denied:
        return denied.response
    return found


def _unlocked(request: web.Request, share: ShareRecord) -> bool:
    if share.password is None:
        return True
    ticket = request.cookies.get(COOKIE)
    return ticket is not None and request.app[STATE].auth.share_session_valid(ticket, share.share_id)


def _password_form(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    login_url = f"/share/{request.match_info['token']}/login"
    html = templates.get_template("login.html").render(name="Shared dashboard", message=message, login_url=login_url, password=True)
    return _page(html, status)


def _opened(request: web.Request, locked_status: int) -> Client | web.Response:
    """The link's client when the link opens it (and its password was given), else the answer."""
    found = _shared(request)
    if isinstance(found, web.Response):
        return found
    client, share = found
    return client if _unlocked(request, share) else _password_form(request, status=locked_status)


async def shared_dashboard(request: web.Request) -> web.Response:
    client = _opened(request, 200)
    if isinstance(client, web.Response):
        return client
    return await render_dashboard(request, client, realtime_url=f"/share/{request.match_info['token']}/realtime")


async def unlock(request: web.Request) -> web.Response:
    found = _shared(request)
    if isinstance(found, web.Response):
        return found
    _, share = found
    form = await request.post()
    if share.password is None or not verify_password(str(form.get("password", "")), share.password):
        return _password_form(request, "Wrong password.", 401)
    token = request.match_info["token"]
    response = web.HTTPSeeOther(f"/share/{token}", headers=SECURITY_HEADERS)
    # Lax, not Strict: the link is opened from mail or chat, another site; a GET only reads
    response.set_cookie(COOKIE, request.app[STATE].auth.new_share_session(share.share_id, COOKIE_SECONDS), max_age=COOKIE_SECONDS,
                        path=f"/share/{token}", httponly=True, samesite="Lax", secure=request.secure)
    return response


async def shared_realtime(request: web.Request) -> web.StreamResponse:
    client = _opened(request, 401)
    return client if isinstance(client, web.Response) else await realtime_response(request.app[STATE], client)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/share/{token}", shared_dashboard)
    app.router.add_post("/share/{token}/login", unlock)
    app.router.add_get("/share/{token}/realtime", shared_realtime)
