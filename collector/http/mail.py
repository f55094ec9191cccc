"""E-mail over HTTP: the admin API of a client's reports and alerts (its recipients, sending one
report now, a preview), and the unsubscribe pages a recipient's link opens (no login: the link
is signed, mail/links.py). GET shows what the link will do; POST does it, so a mail scanner that
fetches every link unsubscribes nobody (RFC 8058's one-click POST works too)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.http.admin import admin_body, for_admin, named_client
from collector.http.auth import Denied
from collector.http.dashboard import SECURITY_HEADERS
from collector.http.errors import field_error
from collector.http.state import STATE
from collector.mail.compose import templates
from collector.mail.links import mask
from collector.mail.outbox import DeliveryError
from collector.mail.schedule import KINDS, closed_periods, period_of
from collector.mail.service import NoRecipients
from collector.reports.periods import Period
from collector.tenants import Client, RegistryError

__all__ = ["add_routes"]


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client: str = Field(min_length=1, max_length=253, description="Client id or name")
    reports: list[Literal["weekly", "monthly"]] | None = Field(None, description="Reports to send (empty: none)")
    to: list[str] | None = Field(None, max_length=50, description="Recipients of the reports and alerts")
    alert_spike_visitors: int | None = Field(None, ge=0, description="Alert at this many current visitors (0: off)")
    alert_drop_hours: float | None = Field(None, ge=0, le=24 * 14, description="Alert after this many hours without an event (0: off)")
    alert_cooldown_hours: float | None = Field(None, gt=0, le=24 * 31, description="At most one alert of a kind per this many hours")


class SendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client: str = Field(min_length=1, max_length=253)
    kind: Literal["weekly", "monthly"]
    period: date | None = Field(None, ge=date(2000, 1, 1), le=date(2099, 12, 31),
                                description="A day of the period to send (default: the last closed one)")


def _settings_json(client: Client) -> dict[str, object]:
    return {"client": client.client_id, "reports": client.email_reports, "to": client.email_to,
            "alert_spike_visitors": client.alert_spike_visitors, "alert_drop_hours": client.alert_drop_hours,
            "alert_cooldown_hours": client.alert_cooldown_hours}


def _period(kind: str, day: date | None) -> Period:
    return period_of(kind, day) if day is not None else closed_periods(kind, datetime.now(UTC), 1)[0]


async def get_settings(request: web.Request, client: Client) -> web.Response:
    return web.json_response(_settings_json(client))


async def put_settings(request: web.Request) -> web.Response:
    """PUT /api/v1/admin/email: the fields given replace the client's (0 turns an alert off)."""
    state = request.app[STATE]
    try:
        body: EmailSettings = await admin_body(request, EmailSettings)  # type: ignore[assignment]
        client = named_client(request, body.client)
        given = body.model_fields_set
        changes: dict[str, object] = {}
        if "reports" in given:
            changes["email_reports"] = body.reports or []
        if "to" in given:
            changes["email_to"] = body.to or []
        for name in ("alert_spike_visitors", "alert_drop_hours"):  # (0: off)
            if name in given:
                changes[name] = getattr(body, name) or None
        if body.alert_cooldown_hours is not None:
            changes["alert_cooldown_hours"] = body.alert_cooldown_hours
        updated = state.registry.store.update(client.client_id, **changes)
    except Denied as denied:
        return denied.response
    except (RegistryError, ValidationError) as exc:
        problem = exc.errors(include_input=False)[0] if isinstance(exc, ValidationError) else None
        field = {"email_to": "to", "email_reports": "reports"}.get(str(problem["loc"][0]), str(problem["loc"][0])) if problem else "client"
        return field_error(400, "invalid request", field, problem["msg"] if problem else str(exc))
    state.registry.reload()
    return web.json_response(_settings_json(updated))


async def send_now(request: web.Request) -> web.Response:
    """POST /api/v1/admin/email/send: one report to every recipient now (sent again if it was)."""
    state = request.app[STATE]
    try:
        body: SendBody = await admin_body(request, SendBody)  # type: ignore[assignment]
        client = named_client(request, body.client)
        period = _period(body.kind, body.period)
        sent = await state.in_report_thread(lambda: state.mail.send_report(client, body.kind, period, record=False))
    except Denied as denied:
        return denied.response
    except NoRecipients as exc:
        return field_error(400, "no recipients", "to", str(exc))
    except DeliveryError as exc:
        return field_error(502, "the report could not be sent", "smtp", f"the mail server did not take it ({exc.reason})")
    return web.json_response({"client": client.client_id, "kind": body.kind, "period": [str(period.first), str(period.last)],
                              "sent": sent})


async def preview(request: web.Request, client: Client) -> web.Response:
    """GET /api/v1/admin/email/preview?client=&kind=weekly[&period=YYYY-MM-DD][&format=text]"""
    state = request.app[STATE]
    kind = request.query.get("kind", "")
    if kind not in KINDS:
        return field_error(400, "invalid request", "kind", f"one of {', '.join(KINDS)}")
    try:
        day = date.fromisoformat(request.query["period"]) if request.query.get("period") else None
        if day is not None and not date(2000, 1, 1) <= day <= date(2099, 12, 31):
            raise ValueError(day)
    except ValueError:
        return field_error(400, "invalid request", "period", "a day of the period, YYYY-MM-DD, from 2000 to 2099")
    letter = await state.in_report_thread(state.mail.preview, client, kind, _period(kind, day))
    if request.query.get("format") == "text":
        return web.Response(text=letter.text, content_type="text/plain")
    return web.Response(text=letter.html, content_type="text/html", headers={**SECURITY_HEADERS, "X-Spii-Subject": _header_safe(letter.subject)})


def _header_safe(text: str) -> str:
    return text.encode("ascii", "replace").decode()


def _unsubscribe_page(heading: str, lines: list[str], status: int = 200, confirm: bool = False) -> web.Response:
    html = templates.get_template("unsubscribe.html").render(heading=heading, lines=lines, confirm=confirm)
    return web.Response(text=html, status=status, content_type="text/html", headers=SECURITY_HEADERS)


async def unsubscribe(request: web.Request) -> web.Response:
    state = request.app[STATE]
    signed = state.mail.signer.verify(request.match_info["token"])
    if signed is None:
        return _unsubscribe_page("This link is not valid", ["The unsubscribe link is incomplete or was changed. Use the link of "
                                                            "the latest e-mail you received, unchanged."], status=400)
    client_id, recipient = signed
    client = state.registry.reload().find(client_id)

    def matches(address: str) -> bool:
        return state.mail.signer.recipient_id(client_id, address) == recipient

    address = next((a for a in client.email_to if matches(a)), None) if client is not None else None
    name = client.name if client is not None else "this site"
    if request.method == "GET":
        if address is None:
            return _unsubscribe_page("Already unsubscribed", [f"This address receives no more e-mails about {name}."])
        return _unsubscribe_page(f"Unsubscribe from {name}'s reports?",
                                 [f"{mask(address)} will receive no more reports or alerts about {name}. Other recipients keep theirs."],
                                 confirm=True)
    dropped = await request.app[STATE].in_report_thread(state.registry.store.remove_recipients, client_id, matches)
    state.registry.reload()
    return _unsubscribe_page("Unsubscribed", [f"This address receives no more e-mails about {name}."
                                              + (" (It had been removed already.)" if not dropped else "")])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/admin/email", for_admin(get_settings))
    app.router.add_put("/api/v1/admin/email", put_settings)
    app.router.add_post("/api/v1/admin/email/send", send_now)
    app.router.add_get("/api/v1/admin/email/preview", for_admin(preview))
    app.router.add_get("/unsubscribe/{token}", unsubscribe)
    app.router.add_post("/unsubscribe/{token}", unsubscribe)
