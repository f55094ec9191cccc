"""Saved segments (Plausible's): GET, POST and DELETE /api/v1/segments, for a site's analysts
(its analyst token, or the admin token), and the dashboard's "Save as segment" form. A segment is
a name for a set of filters in the Stats API's v1 syntax; reports take ``filters=segment==NAME``
(v1, the dashboard) or ``["is", "segment", [ID]]`` (v2), and protect its numbers as any filter's:
suppression, the complement rule, perturbation. Segments live in the client registry, like goals."""

from __future__ import annotations

import re

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.http.auth import Denied, bearer_token
from collector.http.errors import error, field_error
from collector.http.state import STATE, State
from collector.ingest.payload import validation_details
from collector.reports.query import QueryError, filter_sql, parse_filters
from collector.tenants import SEGMENT_NAME, Client, RegistryError, Segment

__all__ = ["add_routes", "save_segment"]


class SegmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str | None = Field(None, max_length=253, description="Client id, name or domain (default: the token's own)")
    name: str = Field(min_length=1, max_length=80, pattern=SEGMENT_NAME, description="The segment's name")
    filters: str = Field(min_length=1, max_length=2000, description="Stats API v1 filters, e.g. visit:country==GB;visit:source==Google")


def _shown(segment: Segment) -> dict[str, str]:
    return {"id": segment.segment_id, "name": segment.name, "filters": segment.filters}


def save_segment(state: State, client: Client, name: str, filters: str) -> Segment:
    """Check ``name`` and ``filters`` and save them: QueryError naming the field when the name is
    not one (1-80 characters, no filter syntax) or they are not filters a report takes,
    RegistryError when the name is taken."""
    if not 0 < len(name.strip()) <= 80 or not re.fullmatch(SEGMENT_NAME, name.strip()):
        raise QueryError("name", "1-80 characters, none of ; | = ~ !")
    parsed = parse_filters(filters)
    if not parsed:
        raise QueryError("filters", "a segment needs at least one filter")
    if any(f.prop == "segment" for f in parsed):
        raise QueryError("filters", "a segment cannot hold another segment")
    try:
        filter_sql(parsed, {}, client.goals)  # every property and goal named exists
    except QueryError as exc:
        raise QueryError("filters", exc.problem) from None
    segment = state.registry.store.add_segment(client.client_id, name.strip(), filters)
    state.registry.reload()
    return segment


async def segments(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        if request.method == "POST":
            try:
                body = SegmentBody.model_validate(orjson.loads(await request.read()))
            except orjson.JSONDecodeError:
                return field_error(400, "body is not valid JSON", "body", "expected a JSON object")
            except ValidationError as exc:
                return error(400, "invalid request", validation_details(exc))
            client = state.auth.client_for(bearer_token(request), body.site_id or request.query.get("site_id"), state.registry.get())
            return web.json_response(_shown(save_segment(state, client, body.name, body.filters)), status=201)
        client = state.auth.client_for(bearer_token(request), request.query.get("site_id"), state.registry.get())
        if request.method == "DELETE":
            which = request.query.get("segment", "")
            if not which:
                return field_error(400, "invalid request", "segment", "the segment's id or name")
            removed = state.registry.store.remove_segment(client.client_id, which)
            state.registry.reload()
            return web.json_response(_shown(removed))
        return web.json_response({"site_id": client.client_id, "segments": [_shown(s) for s in client.segments]})
    except Denied as denied:
        return denied.response
    except QueryError as exc:
        return field_error(400, "invalid segment", exc.field, exc.problem)
    except RegistryError as exc:  # (removing: no such segment; saving: the name is taken, or the client has too many)
        deleting = request.method == "DELETE"
        return field_error(404 if deleting else 409, "invalid segment", "segment" if deleting else "name", str(exc))


def add_routes(app: web.Application) -> None:
    for method in ("GET", "POST", "DELETE"):
        app.router.add_route(method, "/api/v1/segments", segments)
