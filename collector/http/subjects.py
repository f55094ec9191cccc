"""Admin endpoints for data-subject requests and lawful disclosure (admin token only). The CLI's
`spii subject ...` and `spii disclose` are thin clients of these, because embedded ClickHouse
allows one process per store. The subject's IP or cookie id travels in the POST body, never in
a URL (URLs end up in proxy logs), and no answer or log line repeats it.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from collector.http.admin import admin_body
from collector.http.auth import Denied, bearer_token
from collector.http.errors import field_error
from collector.http.state import STATE, State
from collector.privacy.keyring import Keyring
from collector.subjects.pseudonyms import InvalidSubject, Subject
from collector.subjects.service import DisclosureRefused, Request
from collector.tenants import Client, hash_token

__all__ = ["add_routes", "SUBJECT_ACTIONS"]

SUBJECT_ACTIONS = ("export", "erase", "restrict", "unrestrict", "object")
_ACTOR = re.compile(r"^[A-Za-z0-9_.@:\- ]{1,64}$")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class SubjectBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    client: str = Field(min_length=1, max_length=253, description="Client id, name or domain")
    ip: str | None = Field(None, max_length=64, description="The subject's IP address")
    cookie_id: str | None = Field(None, max_length=64, description="The subject's consented cookie id")
    from_: date | None = Field(None, alias="from", description="First day (UTC) to search; default: the oldest key")
    to: date | None = Field(None, description="Last day (UTC) to search, inclusive; default: today")
    reason: str = Field("", max_length=500, description="Why (e.g. a ticket reference); goes to the audit log")
    request_id: str = Field("", max_length=64, description="Ties the calls of one CLI run together in the audit log")


class DiscloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client: str = Field(min_length=1, max_length=253)
    token: str = Field(min_length=2, max_length=64, description="ip_token as stored")
    key_id: str = Field(min_length=1, max_length=64)
    reason: str = Field("", max_length=500, description="Required: the lawful request it answers")
    request_id: str = Field("", max_length=64)


def _actor(request: web.Request, token: str) -> str:
    """The admin token's id (a hash prefix), plus the operator's name when the CLI sends one."""
    actor = f"admin-token:{hash_token(token)[:8]}"
    operator = request.headers.get("X-SPII-Actor", "")
    return f"{actor}/{operator}" if operator and _ACTOR.match(operator) else actor


async def _admin_body(request: web.Request, model: type[BaseModel]) -> tuple[Any, str]:
    """The body (http/admin.admin_body: the admin token, JSON, the model) and who sent it."""
    body = await admin_body(request, model)
    return body, _actor(request, bearer_token(request) or "")


def _client(state: State, name: str) -> Client:
    registry = state.registry.get()
    client = registry.find(name) or registry.for_host(name)
    if client is None:
        raise Denied(field_error(404, "unknown client", "client", "no client with that id, name or domain"))
    return client


def _range(keyring: Keyring, body: SubjectBody) -> tuple[datetime, datetime]:
    first = min((e.start for series in keyring.epochs.values() for e in series), default=EARLIEST)
    start = datetime.combine(body.from_, time(), UTC) if body.from_ else first
    end = datetime.combine(body.to or datetime.now(UTC).date(), time(), UTC) + timedelta(days=1)
    if end <= start:
        raise Denied(field_error(400, "invalid range", "to", "must not be before from"))
    return start, end


async def subject_action(request: web.Request) -> web.Response:
    state = request.app[STATE]
    action = request.match_info["action"]
    loop = asyncio.get_running_loop()
    try:
        body, actor = await _admin_body(request, SubjectBody)
        client = _client(state, body.client)
        subject = Subject(client.client_id, ip=body.ip, cookie_id=body.cookie_id)
        keyring = state.keyring.reload()  # never a key another process destroyed a moment ago
        start, end = _range(keyring, body)
        who = Request(actor, body.reason, body.request_id)
        service = state.subjects
        if action == "export":
            call = partial(service.export, keyring, subject, start, end, who)
        elif action == "erase":
            def flush() -> bool:  # events accepted moments ago are erased too
                return asyncio.run_coroutine_threadsafe(state.shipper.flush(), loop).result(timeout=120)

            call = partial(service.erase, keyring, client, subject, start, end, who, flush)
        elif action == "restrict":
            call = partial(service.restrict, keyring, client, subject, start, who)
        elif action == "unrestrict":
            call = partial(service.unrestrict, keyring, subject, start, who)
        else:
            call = partial(service.object, keyring, client, subject, who)
        result = await loop.run_in_executor(None, call)
    except Denied as denied:
        return denied.response
    except InvalidSubject as exc:
        return field_error(400, "invalid subject", exc.field, exc.problem)
    state.metrics.subject_requests.labels(action).inc()
    return web.json_response({"client": client.client_id, "from": start.date().isoformat(),
                              "to": (end - timedelta(days=1)).date().isoformat(), **result},
                             headers={"Cache-Control": "no-store"})


async def disclose(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body, actor = await _admin_body(request, DiscloseBody)
        client = _client(state, body.client)
        call = partial(state.subjects.disclose, state.keyring.reload(), client, body.token, body.key_id,
                       Request(actor, body.reason, body.request_id))
        ip = await asyncio.get_running_loop().run_in_executor(None, call)
    except Denied as denied:
        return denied.response
    except InvalidSubject as exc:
        return field_error(400, "invalid disclosure request", exc.field, exc.problem)
    except DisclosureRefused as exc:
        return field_error(exc.status, "disclosure refused", exc.field, exc.problem)
    state.metrics.subject_requests.labels("disclose").inc()
    return web.json_response({"client": client.client_id, "key_id": body.key_id, "ip": ip}, headers={"Cache-Control": "no-store"})


async def keys_status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        state.auth.require_admin(bearer_token(request))
    except Denied as denied:
        return denied.response
    return web.json_response(state.keyring.reload().status(datetime.now(UTC), state.settings.keys_min_ahead))


async def flags_status(request: web.Request) -> web.Response:
    """Restrictions and objections in force, counted per client (expired flags left out)."""
    state = request.app[STATE]
    try:
        state.auth.require_admin(bearer_token(request))
    except Denied as denied:
        return denied.response
    await asyncio.get_running_loop().run_in_executor(None, state.flags.load)
    return web.json_response({"clients": state.flags.active()})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/admin/subject/{action:" + "|".join(SUBJECT_ACTIONS) + "}", subject_action)
    app.router.add_post("/api/v1/admin/disclose", disclose)
    app.router.add_get("/api/v1/admin/keys", keys_status)
    app.router.add_get("/api/v1/admin/flags", flags_status)
