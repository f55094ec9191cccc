"""What the admin endpoints share: the admin token checked, a JSON body validated by its model,
and the client a request names; each failure a ``Denied`` carrying its answer."""

from __future__ import annotations

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from collector.http.auth import Denied, bearer_token
from collector.http.errors import error, field_error
from collector.http.state import STATE
from collector.ingest.payload import validation_details
from collector.tenants import Client

__all__ = ["admin_body", "named_client"]


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
    """The client ``name`` (an id, a name or a domain) names; a 404 naming ``client`` if none."""
    client = request.app[STATE].registry.reload().find(name or "")
    if client is None:
        raise Denied(field_error(404, "unknown client", "client", "no client with that id or name"))
    return client
