"""Admin endpoints for goals and funnels (admin token only), the API form of `spii goals` and
`spii funnels`. Goals and funnels live in the client registry: each change rewrites that file
under its lock, and every node rereads it."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.http.admin import admin_body, named_client
from collector.http.auth import Denied, bearer_token
from collector.http.errors import field_error
from collector.http.state import STATE
from collector.tenants import RegistryError

__all__ = ["add_routes"]


class GoalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client: str = Field(min_length=1, max_length=253, description="Client id or name")
    event: str | None = Field(None, min_length=1, max_length=120, description="A custom event's name")
    page: str | None = Field(None, min_length=1, max_length=512, description="A path pattern (* one segment, ** any)")
    revenue: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="Revenue goal: the currency")


class FunnelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client: str = Field(min_length=1, max_length=253)
    name: str = Field(min_length=1, max_length=120)
    steps: list[str] = Field(min_length=2, max_length=8, description="Goal ids or names, in order")


async def list_goals(request: web.Request) -> web.Response:
    try:
        request.app[STATE].auth.require_admin(bearer_token(request))
        client = named_client(request, request.query.get("client"))
    except Denied as denied:
        return denied.response
    return web.json_response({"client": client.client_id, "goals": [{**g.model_dump(), "name": g.name} for g in client.goals],
                              "funnels": [f.model_dump() for f in client.funnels]})


async def change(request: web.Request) -> web.Response:
    """POST /api/v1/admin/goals (add a goal), /api/v1/admin/funnels (add a funnel); DELETE with
    ?client=&goal= or ?client=&funnel= removes one."""
    state = request.app[STATE]
    store = state.registry.store
    kind = request.path.rsplit("/", 1)[-1]  # goals | funnels
    try:
        if request.method == "DELETE":
            state.auth.require_admin(bearer_token(request))
            client = named_client(request, request.query.get("client"))
            which = request.query.get("goal" if kind == "goals" else "funnel", "")
            removed = store.remove_goal(client.client_id, which) if kind == "goals" else store.remove_funnel(client.client_id, which)
            result = removed.model_dump()
        elif kind == "goals":
            body = await admin_body(request, GoalBody)
            result = store.add_goal(named_client(request, body.client).client_id, event=body.event, page=body.page,  # type: ignore[attr-defined]
                                    revenue=body.revenue).model_dump()  # type: ignore[attr-defined]
        else:
            body = await admin_body(request, FunnelBody)
            result = store.add_funnel(named_client(request, body.client).client_id, body.name, body.steps).model_dump()  # type: ignore[attr-defined]
    except Denied as denied:
        return denied.response
    except (RegistryError, ValueError) as exc:
        problem = exc.errors(include_input=False)[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return field_error(400, "invalid request", kind[:-1], problem)
    state.registry.reload()
    return web.json_response(result, status=200 if request.method == "DELETE" else 201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/admin/goals", list_goals)
    for kind in ("goals", "funnels"):
        app.router.add_post(f"/api/v1/admin/{kind}", change)
        app.router.add_delete(f"/api/v1/admin/{kind}", change)
