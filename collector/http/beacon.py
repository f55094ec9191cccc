"""The beacon endpoints: ``POST /api/event`` (Plausible Events API + spii extensions),
``POST /api/events`` (batches for server-side senders) and ``GET /px.gif`` (noscript pixel).

Every answer is deliberate: 202 accepted; 202 + ``X-SPII-Dropped`` when dropped on purpose;
400 with a JSON body naming the field; 413 too large; 429 rate limited; 503 + Retry-After when
the event cannot be stored. The row is in the spool (one write syscall; on the inline path one
per turn of the event loop, collector/http/answer.py) before 202 goes out.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from multidict import CIMultiDict
from pydantic import ValidationError

from collector.http.auth import bearer_token
from collector.http.errors import error, field_error, internal_error
from collector.http.state import STATE, State
from collector.ingest.client_ip import client_ip
from collector.ingest.payload import EventPayload, validation_details
from collector.ingest.pipeline import Outcome, RequestFacts, origin_host
from collector.privacy.anonymise import InvalidUrl
from collector.privacy.keyring import NoCurrentKey
from collector.spool.segments import REFUSALS, SpoolRefused

T = TypeVar("T")
MAX_EVENT_BYTES = 8 * 1024
MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = MAX_BATCH_EVENTS * 2 * 1024
RETRY_AFTER_SECONDS = "30"
OK_BODY = orjson.dumps({"ok": True})
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


class Reject(Exception):
    """An answer for the whole request (413, 400 on the body, 503)."""

    def __init__(self, response: web.Response, reason: str) -> None:
        self.response = response
        self.reason = reason


def facts_of(headers: Mapping[str, str], peer: str | None, state: State, peer_trusted: bool | None = None) -> RequestFacts:
    """What the request says of its sender: ``peer`` is the socket's address (``peer_trusted``:
    whether it is a trusted proxy, when the caller knows)."""
    ip = client_ip(peer, headers, state.trusted, peer_trusted)
    return RequestFacts(
        ip=ip,
        user_agent=headers.get("User-Agent", ""),
        origin=headers.get("Origin"),
        refuses_tracking=headers.get("Sec-GPC") == "1" or headers.get("DNT") == "1",
        forwarded=ip != peer,
    )


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    # StreamReader.read(n) returns what has arrived so far; a body split across TCP segments
    # needs the loop (and a chunked body without Content-Length is capped the same way).
    body = await request.content.read(limit + 1)
    while not request.content.at_eof() and len(body) <= limit:
        body += await request.content.read(limit + 1 - len(body))
    if len(body) > limit:
        raise too_large(limit)
    return body


def too_large(limit: int) -> Reject:
    return Reject(field_error(413, "request body too large", "body", f"at most {limit} bytes"), "too_large")


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Reject(field_error(400, "body is not valid JSON", "body", "expected a JSON object"), "invalid_json") from None


def cors_headers(origin: str | None, state: State) -> dict[str, str]:
    """Echo the caller's Origin when it belongs to a registered client (credentials are never
    needed: the beacon carries no cookies)."""
    if not origin:
        return {}
    host = origin_host(origin)
    if not host or state.registry.get().for_host(host) is None:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


MAX_BACKFILL_DAYS = 400


def backfill_time(request: web.Request, state: State, data: Any, now: datetime) -> datetime | None | list[dict[str, str]]:
    """An operator importing history (admin token) may date an event with ``ts`` (ISO 8601);
    anyone else's ``ts`` is ignored. The event is pseudonymised under the key of its own epoch
    (so it joins that day's visitors and subject requests find it there) while that key lives."""
    if not isinstance(data, dict) or "ts" not in data or not state.auth.is_admin(bearer_token(request)):
        return None
    try:
        ts = datetime.fromisoformat(str(data["ts"]))
    except ValueError:
        return [{"field": "ts", "problem": "expected an ISO 8601 date-time"}]
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)  # rows are written in UTC
    if not now - timedelta(days=MAX_BACKFILL_DAYS) <= ts <= now + timedelta(minutes=5):
        return [{"field": "ts", "problem": f"within the last {MAX_BACKFILL_DAYS} days"}]
    return ts


def process_one(
    state: State, data: Any, facts: RequestFacts, now: datetime, event_time: datetime | None = None
) -> Outcome | list[dict[str, str]]:
    """Validate and run the pipeline: an Outcome, or validation details for a 400."""
    if not isinstance(data, dict):
        return [{"field": "body", "problem": "expected a JSON object"}]
    try:
        payload = EventPayload.model_validate(data)
    except ValidationError as exc:
        return validation_details(exc)
    try:
        return state.pipeline.process(payload, facts, state.registry.get(), state.keyring.get(), now, event_time)
    except InvalidUrl as exc:
        return [{"field": "u", "problem": str(exc)}]


def unavailable(reason: str) -> Reject:
    """A 503 with Retry-After: no key for now, or the spool cannot take events (segments.REFUSALS)."""
    message = "no encryption key for the current time" if reason == "no_key" else REFUSALS[reason]
    return Reject(error(503, f"cannot store events now: {message}", headers={"Retry-After": RETRY_AFTER_SECONDS}), reason)


def store_rows(state: State, rows: list[bytes]) -> None:
    """Append the rows to the spool; the visits they stepped count only once they are there."""
    sessions = state.pipeline.sessions
    if rows:
        try:
            state.spool.append(b"".join(rows))
        except SpoolRefused as refused:
            sessions.rollback()
            raise unavailable(refused.reason) from None
    sessions.commit()


def count(state: State, outcome: Outcome) -> None:
    if outcome.dropped:
        state.metrics.drop(outcome.dropped)
    else:
        state.metrics.accept(outcome.kind)


def rejected(rej: Reject, origin: str | None, state: State) -> web.Response:
    """A Reject's answer, counted, with CORS headers."""
    state.metrics.rejected.labels(rej.reason).inc()
    rej.response.headers.update(cors_headers(origin, state))
    return rej.response


BeaconHandler = Callable[[web.Request, State], Awaitable[web.Response]]


def beacon_endpoint(handle: BeaconHandler) -> BeaconHandler:
    """A beacon handler whose Reject becomes its answer (counted, with CORS headers)."""

    async def endpoint(request: web.Request, state: State) -> web.Response:
        try:
            return await handle(request, state)
        except Reject as rej:
            return rejected(rej, request.headers.get("Origin"), state)

    endpoint.__name__ = handle.__name__
    return endpoint


async def with_current_key(state: State, run: Callable[[], T]) -> T:
    """``run()``; when it finds no key for the current time, have the key keeper supply one
    (created at once with auto-rotate) and run it again, else answer 503."""
    sessions = state.pipeline.sessions
    sessions.begin()
    try:
        return run()
    except NoCurrentKey:
        sessions.rollback()  # (an event before it in a batch may have stepped a visit)
        if not await state.keys.supply_current():
            raise unavailable("no_key") from None
    try:
        return run()
    except NoCurrentKey:
        sessions.rollback()
        raise unavailable("no_key") from None


def run_event(state: State, data: Any, facts: RequestFacts, now: datetime, event_time: datetime | None = None) -> Outcome:
    """One event run, neither stored nor counted; raises Reject for a 400, or NoCurrentKey."""
    result = process_one(state, data, facts, now, event_time)
    if isinstance(result, Outcome) and result.dropped == "unknown_client" and state.registry.refresh():
        result = process_one(state, data, facts, now, event_time)  # the client was registered since the last look
    if isinstance(result, list):
        raise Reject(error(400, "invalid event", result), "invalid_event")
    return result


def accept_event(state: State, data: Any, facts: RequestFacts, now: datetime, event_time: datetime | None = None) -> Outcome:
    """One event run, stored and counted; raises Reject (its answer), or NoCurrentKey before
    anything was stored (the caller rolls the visits back)."""
    result = run_event(state, data, facts, now, event_time)
    if result.row is not None:
        store_rows(state, [result.row])
    count(state, result)
    return result


async def _single(state: State, data: Any, request: web.Request) -> Outcome:
    facts = facts_of(request.headers, request.remote, state)
    now = datetime.now(UTC)
    event_time = backfill_time(request, state, data, now)
    if isinstance(event_time, list):
        raise Reject(error(400, "invalid event", event_time), "invalid_event")
    if event_time is None:
        return await with_current_key(state, lambda: accept_event(state, data, facts, now))
    try:
        return accept_event(state, data, facts, event_time, event_time)
    except NoCurrentKey:
        raise Reject(field_error(400, "invalid event", "ts", "no live key for that time (destroyed or never created)"), "invalid_event") from None


# The answer to most events: accepted, no CORS (a beacon without Origin or from a sendBeacon).
_ACCEPTED_HEADERS = CIMultiDict({"Content-Type": "application/json"})


def event_answer(outcome: Outcome, headers: dict[str, str], body: bytes | None = None, content_type: str = "application/json") -> web.Response:
    if not headers and body is None and outcome.dropped is None:
        return web.Response(body=OK_BODY, status=202, headers=_ACCEPTED_HEADERS)
    if outcome.dropped == "rate_limited":
        headers = {**headers, "X-SPII-Dropped": "rate_limited", "Retry-After": "1"}
        return web.json_response({"error": "rate limited", "details": [{"field": "d", "problem": "client over its event rate"}]}, status=429, headers=headers)
    if outcome.dropped:
        headers = {**headers, "X-SPII-Dropped": outcome.dropped}
    status = 202 if body is None else 200
    payload = body if body is not None else orjson.dumps({"dropped": outcome.dropped}) if outcome.dropped else OK_BODY
    return web.Response(body=payload, status=status, headers=headers, content_type=content_type)


@beacon_endpoint
async def post_event(request: web.Request, state: State) -> web.Response:
    data = parse_json(await read_body(request, MAX_EVENT_BYTES))
    outcome = await _single(state, data, request)
    return event_answer(outcome, cors_headers(request.headers.get("Origin"), state))


@beacon_endpoint
async def pixel(request: web.Request, state: State) -> web.Response:
    data: dict[str, Any] = {"n": "pageview", **{k: v for k, v in request.query.items()}}
    if "u" not in data and request.headers.get("Referer"):
        data["u"] = request.headers["Referer"]
    outcome = await _single(state, data, request)
    headers = {"Cache-Control": "no-store, max-age=0"}
    return event_answer(outcome, headers, body=GIF, content_type="image/gif")


def split_batch(body: bytes) -> list[Any]:
    """A JSON array, or NDJSON (one object per line)."""
    stripped = body.lstrip()
    if not stripped.startswith((b"[", b"{")):
        raise Reject(field_error(400, "batch must be a JSON array or NDJSON", "body", "expected an array of events, or one event object per line"),
                     "invalid_json")
    if stripped.startswith(b"["):
        data = parse_json(body)
        if not isinstance(data, list):
            raise Reject(field_error(400, "batch must be a JSON array or NDJSON", "body", "expected an array"), "invalid_json")
        return data
    events = []
    for n, line in enumerate(body.splitlines()):
        if line.strip():
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                raise Reject(field_error(400, "body is not valid NDJSON", f"line {n + 1}", "not valid JSON"), "invalid_json") from None
    return events


@beacon_endpoint
async def post_events(request: web.Request, state: State) -> web.Response:
    events = split_batch(await read_body(request, MAX_BATCH_BYTES))
    if not events:
        raise Reject(field_error(400, "empty batch", "body", "at least one event"), "invalid_event")
    if len(events) > MAX_BATCH_EVENTS:
        raise Reject(field_error(413, "batch too large", "body", f"at most {MAX_BATCH_EVENTS} events"), "too_large")
    facts = facts_of(request.headers, request.remote, state)
    now = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    rows: list[bytes] = []
    outcomes: list[Outcome] = []

    def run_batch() -> None:
        results.clear()
        rows.clear()
        outcomes.clear()
        for index, data in enumerate(events):
            result = process_one(state, data, facts, now)
            if isinstance(result, list):
                results.append({"index": index, "status": "invalid", "details": result})
                continue
            outcomes.append(result)
            if result.row is not None:
                rows.append(result.row)
                results.append({"index": index, "status": "accepted"})
            else:
                results.append({"index": index, "status": "dropped", "reason": result.dropped})

    await with_current_key(state, run_batch)
    store_rows(state, rows)  # all accepted rows of the batch in one write
    for outcome in outcomes:
        count(state, outcome)
    summary = {
        "accepted": len(rows),
        "dropped": sum(1 for r in results if r["status"] == "dropped"),
        "invalid": sum(1 for r in results if r["status"] == "invalid"),
        "results": results,
    }
    return web.json_response(summary, status=202, headers=cors_headers(request.headers.get("Origin"), state))


async def preflight(request: web.Request) -> web.Response:
    state = request.app[STATE]
    headers = cors_headers(request.headers.get("Origin"), state)
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        }
    )
    return web.Response(status=204, headers=headers)


# The beacon endpoints by (method, path): routed through the application, and by the fast path.
ENDPOINTS: dict[tuple[str, str], BeaconHandler] = {("POST", "/api/event"): post_event, ("POST", "/api/events"): post_events,
                                                   ("GET", "/px.gif"): pixel}


def _routed(handler: BeaconHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        return await handler(request, request.app[STATE])

    return route


def fast_path(state: State, app_handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
              ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The server's request handler: the beacon endpoints straight to their handler (no router,
    no middleware: they carry most of the traffic, and both cost about as much as the pipeline's
    privacy work), everything else through the application. Unexpected exceptions still get
    the JSON 500 of the error middleware."""

    async def dispatch(request: web.Request) -> web.StreamResponse:
        handler = ENDPOINTS.get((request.method, request.raw_path.partition("?")[0]))
        if handler is None:
            return await app_handler(request)
        try:
            return await handler(request, state)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:  # noqa: BLE001 - as json_errors does for routed requests
            return internal_error(exc, state.metrics, route=f"{request.method} {request.raw_path.partition('?')[0]}")

    return dispatch


def add_routes(app: web.Application) -> None:
    for (method, path), handler in ENDPOINTS.items():
        app.router.add_route(method, path, _routed(handler))
    app.router.add_route("OPTIONS", "/api/event", preflight)
    app.router.add_route("OPTIONS", "/api/events", preflight)
