"""Clear, PII-free error answers: status + JSON ``{"error": ..., "details": [{field, problem}]}``.

:func:`json_errors` is the one error middleware: aiohttp's own 404 / 405 / 413 and any
unexpected exception leave the server in that shape too (a 500 carries a request id, and is
logged with that id and the exception's type only, never the request's values)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from collector.metrics import Metrics

log = logging.getLogger("spii.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, details: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
          **extra: str) -> web.Response:
    return web.json_response({"error": message, "details": details or [], **extra}, status=status, headers=headers)


def field_error(status: int, message: str, field: str, problem: str) -> web.Response:
    return error(status, message, [{"field": field, "problem": problem}])


def _http_exception_detail(exc: web.HTTPException, request: web.Request) -> dict[str, str]:
    if exc.status == 404:
        return {"field": "path", "problem": "no such endpoint"}
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return {"field": "method", "problem": f"{request.method} not allowed here; allowed: {allowed}"}
    if exc.status == 413:
        return {"field": "body", "problem": "request body too large"}
    return {"field": "request", "problem": exc.reason.lower()}


# Headers of aiohttp's exception worth keeping on the JSON answer.
_KEEP_HEADERS = ("Allow", "Retry-After", "Location", "WWW-Authenticate")


def json_errors(metrics: Metrics) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The error middleware, counting each answer it makes by status in ``metrics``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == "application/json":
                raise  # redirects, and answers already in our shape
            headers = {name: exc.headers[name] for name in _KEEP_HEADERS if name in exc.headers}
            metrics.http_errors.labels(str(exc.status)).inc()
            return error(exc.status, exc.reason.lower(), [_http_exception_detail(exc, request)], headers=headers)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a 500 in our shape
            resource = request.match_info.route.resource
            return internal_error(exc, metrics, route=resource.canonical if resource else "(no route)")

    return middleware


def internal_error(exc: Exception, metrics: Metrics, route: str) -> web.Response:
    """A 500 in our shape, with a request id that is logged with the exception's type and the
    route's pattern only (never the request's own path or values)."""
    request_id = secrets.token_hex(8)
    metrics.http_errors.labels("500").inc()
    log.error("unhandled error", extra={"fields": {"request_id": request_id, "route": route, "error": type(exc).__name__}})
    return error(500, "internal error", [{"field": "request", "problem": f"unexpected error; quote request id {request_id}"}],
                 request_id=request_id)
