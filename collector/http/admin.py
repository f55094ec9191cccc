"""What the admin endpoints share: the admin token checked, a JSON body validated by its model,
and the client a request names; each failure a ``Denied`` carrying its answer."""

from __future__ import annotations

import orjson
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel, ValidationError

from collector.http.auth import Denied, bearer_token
from collector.http.errors import error, field_error
from collector.http.state import STATE
from collector.ingest.payload import validation_details
from collector.tenants import Client

__all__ = ["admin_body", "admin_client", "for_admin", "named_client"]


async def admin_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """The request's JSON body as ``model``, from a holder of the admin token."""
    request.app[STATE].auth.require_admin(bearer_token(request))
    try:
        return model.model_validate(orjson.loads(await request.read()))
    except orjson.JSONDecodeError:
        raise Denied(field_error(400, "body is not valid JSON", "body", "expected a JSON object")) from None
    except ValidationError as exc:
        raise Denied(error(400, "invalid request", validation_details(exc))) from None


def named_client(request: web.Request, name: str | None) -> Client:
    """The client ``name`` (its id or name) names; a 404 naming ``client`` if none."""
    client = request.app[STATE].registry.reload().find(name or "")
    if client is None:
        raise Denied(field_error(404, "unknown client", "client", "no client with that id or name"))
    return client


def admin_client(request: web.Request) -> Client:
    """The client of the request's ``client`` parameter, for a holder of the admin token."""
    request.app[STATE].auth.require_admin(bearer_token(request))
    return named_client(request, request.query.get("client"))


def for_admin(handler: Callable[[web.Request, Client], Awaitable[web.StreamResponse]]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler of the client its ``client`` parameter names, for holders of the admin token
    (401/403/404 answered before it runs)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        try:
            client = admin_client(request)
        except Denied as denied:
            return denied.response
        return await handler(request, client)

    return checked
