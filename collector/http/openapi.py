"""/openapi.json: every public endpoint, its security and the limits the server enforces. Request
bodies come from the pydantic models the handlers validate with (EventPayload, V2Query,
SubjectBody, DiscloseBody, GoalBody, FunnelBody); query parameters from the same constants the
parsers check (periods, intervals, metrics, properties, limits). tests/e2e/test_openapi.py runs
schemathesis against a running collector with this description."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from collector.http.goals import FunnelBody, GoalBody
from collector.http.mail import EmailSettings, SendBody
from collector.http.segments import SegmentBody
from collector.http.subjects import SUBJECT_ACTIONS, DiscloseBody, SubjectBody
from collector.ingest.payload import EventPayload
from collector.reports.catalogue import METRICS
from collector.reports.periods import INTERVALS, PERIODS
from collector.reports.query import PROPERTIES, VISIT_ONLY
from collector.reports.v2 import FILTER_SCHEMA, V2Query

__all__ = ["openapi_spec"]

MAX_BODY = 8 * 1024  # (beacon.py's limits, restated for readers of the description)
MAX_BATCH = 1000
ANALYST = [{"analystToken": []}, {"adminToken": []}]
ADMIN = [{"adminToken": []}]
_DATE = r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"  # (days 29-31 exist too; left out so every date it allows is real)
_NAMES = "|".join(METRICS)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _bad_request(description: str) -> dict[str, Any]:
    """A 400: JSON naming the field, or, for a request line or header over aiohttp's limits,
    aiohttp's own plain-text answer (on any route)."""
    answer = _error(description)
    answer["content"]["text/plain"] = {"schema": {"type": "string"}}
    return answer


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _param(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


SITE_ID = _param("site_id", {"type": "string", "maxLength": 253}, "client id, name or domain (default, or empty: the token's own)")
PERIOD = _param("period", {"type": "string", "enum": [p for p in PERIODS if p != "custom"]}, "the period, UTC days (default 30d)")
DATE = _param("date", {"type": "string", "pattern": f"^({_DATE})?$"}, "anchors the period (YYYY-MM-DD; empty: today)")
METRICS_PARAM = _param("metrics", {"type": "string", "pattern": f"^({_NAMES})(,({_NAMES})){{0,19}}$"},
                       f"comma-separated: {', '.join(METRICS)}")
FILTERABLE = [p for p in PROPERTIES if p not in VISIT_ONLY and p.startswith("visit:")] + ["event:page", "event:hostname", "event:kind"]
_PROP = f"({'|'.join(FILTERABLE)}|event:props:[A-Za-z0-9_.\\-]{{1,64}})"
_VALUE = r"[^;|\s]([^;|]{0,98}[^;|\s])?"
_PART = f"({_PROP}\\s*(==|!=|~)\\s*{_VALUE}(\\s*\\|\\s*{_VALUE}){{0,9}}|segment\\s*==\\s*{_VALUE})"
FILTERS = _param("filters", {"type": "string", "maxLength": 2000, "pattern": f"^\\s*({_PART}(\\s*;\\s*{_PART}){{0,19}})?\\s*$"},
                 "property==a|b, property!=a, property~text, joined by ; (* and ** wildcards); also event:goal==GOAL and "
                 "segment==NAME (a saved segment's filters)")
WITH_IMPORTED = _param("with_imported", {"type": "string", "enum": ["true", "false"]},
                       "add imported history where it can answer (no filters; see docs/importing.md)")
V1_COMMON = [SITE_ID, PERIOD, DATE, FILTERS, WITH_IMPORTED]
V1_ANSWERS = {"200": _json("the report (Plausible's v1 shape; suppressed numbers are null)"),
              "400": _bad_request("a bad parameter, named in details"), "401": _error("missing or invalid token"),
              "403": _error("the token cannot read that site"), "429": _error("over the token's request rate (Retry-After)")}
ADMIN_ANSWERS = {"400": _bad_request("a bad field, named in details"), "401": _error("missing or invalid admin token"),
                 "404": _error("unknown client"), "429": _error("over the token's request rate")}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model.__name__)}}}


def _stats_paths() -> dict[str, Any]:
    props = [*PROPERTIES, "event:goal"]
    return {
        "/api/v1/stats/aggregate": {"get": {
            "operationId": "statsAggregate", "security": ANALYST, "summary": "totals of the period",
            "parameters": [*V1_COMMON, METRICS_PARAM, _param("compare", {"type": "string", "enum": ["previous_period", ""]},
                                                             "add each metric's change against the period before")],
            "responses": V1_ANSWERS}},
        "/api/v1/stats/timeseries": {"get": {
            "operationId": "statsTimeseries", "security": ANALYST, "summary": "metrics per time bucket",
            "parameters": [*V1_COMMON, METRICS_PARAM, _param("interval", {"type": "string", "enum": [*INTERVALS, "date"]}, "bucket size (date: day, Plausible's v1 name)")],
            "responses": V1_ANSWERS}},
        "/api/v1/stats/breakdown": {"get": {
            "operationId": "statsBreakdown", "security": ANALYST, "summary": "metrics per value of a property",
            "parameters": [*V1_COMMON, _param("metrics", {"type": "string", "pattern": "^(visitors|visits|pageviews)(,(visitors|pageviews))?$"},
                                              f"comma-separated: {', '.join(METRICS)} (bounce_rate and visit_duration by visit:* only)"),
                           _param("property", {"type": "string", "enum": props}, "the property (also event:props:NAME)", required=True),
                           _param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "rows per page (default 100)"),
                           _param("page", {"type": "integer", "minimum": 1, "maximum": 100_000}, "page of rows (default 1)")],
            "responses": V1_ANSWERS}},
        "/api/v1/stats/receiving": {"get": {
            "operationId": "statsReceiving", "security": ANALYST, "summary": "events in the last hour and today (is data arriving?)",
            "parameters": [SITE_ID], "responses": V1_ANSWERS}},
        "/api/v1/stats/realtime/visitors": {"get": {
            "operationId": "statsRealtime", "security": ANALYST, "summary": "distinct visitors of the last 5 minutes",
            "parameters": [SITE_ID],
            "responses": {**V1_ANSWERS, "200": {"description": "a bare integer (0 with X-SPII-Suppressed under k)",
                                                "content": {"application/json": {"schema": {"type": "integer", "minimum": 0}}}}}}},
        "/api/v1/stats/funnel": {"get": {
            "operationId": "statsFunnel", "security": ANALYST, "summary": "visitors reaching each step of a funnel, in order, within a visit",
            "parameters": [SITE_ID, PERIOD, DATE, _param("funnel", {"type": "string", "minLength": 1, "maxLength": 120}, "the funnel's name",
                                                        required=True)],
            "responses": {**V1_ANSWERS, "400": _bad_request("a bad parameter, or a funnel the client does not have")}}},
        "/api/v1/stats/export": {"get": {
            "operationId": "statsExport", "security": ANALYST, "summary": "the dashboard as a ZIP of CSV files, suppression applied",
            "parameters": [SITE_ID, PERIOD, DATE],
            "responses": {**V1_ANSWERS, "200": {"description": "application/zip", "content": {"application/zip": {
                "schema": {"type": "string", "format": "binary"}}}},
                "429": _error("over the request rate, or the month's differential-privacy budget is spent (Retry-After)"),
                "501": _error("the client has a differential-privacy budget and this install has no OpenDP (the dp extra)")}}},
        "/api/v2/query": {"post": {
            "operationId": "statsQueryV2", "security": ANALYST, "summary": "Plausible's Stats API v2",
            "requestBody": _body(V2Query),
            "responses": {**V1_ANSWERS, "200": _json("{results: [{dimensions, metrics}], meta, query}")}}},
    }


def _admin_paths() -> dict[str, Any]:
    client_param = _param("client", {"type": "string", "minLength": 1, "maxLength": 253}, "client id or name", required=True)
    return {
        **{f"/api/v1/admin/subject/{action}": {"post": {
            "operationId": f"subject{action.capitalize()}", "security": ADMIN, "summary": f"data-subject request: {action}",
            "description": "The subject's IP or cookie id travels in the body, never in the URL; no answer repeats it.",
            "requestBody": _body(SubjectBody), "responses": {**ADMIN_ANSWERS, "200": _json("what was found or done")}}}
           for action in SUBJECT_ACTIONS},
        "/api/v1/admin/disclose": {"post": {
            "operationId": "disclose", "security": ADMIN, "summary": "lawful disclosure: the IP address behind a stored token",
            "requestBody": _body(DiscloseBody),
            "responses": {**ADMIN_ANSWERS, "200": _json("the address"), "403": _error("refused (no reason given)"),
                          "410": _error("the epoch's key was destroyed: no one can decrypt it")}}},
        "/api/v1/admin/keys": {"get": {"operationId": "keysStatus", "security": ADMIN, "summary": "key epochs: current, ahead, destroyed",
                                       "responses": {**ADMIN_ANSWERS, "200": _json("key status")}}},
        "/api/v1/admin/flags": {"get": {"operationId": "flagsStatus", "security": ADMIN, "summary": "active restriction and objection flags per client",
                                        "responses": {**ADMIN_ANSWERS, "200": _json("counts by client")}}},
        "/api/v1/segments": {
            "get": {"operationId": "segmentsList", "security": ANALYST, "summary": "the site's saved segments", "parameters": [SITE_ID],
                    "responses": {**V1_ANSWERS, "200": _json("the segments: id, name, filters")}},
            "post": {"operationId": "segmentsAdd", "security": ANALYST, "summary": "save filters as a named segment",
                     "parameters": [SITE_ID], "requestBody": _body(SegmentBody),
                     "responses": {**V1_ANSWERS, "201": _json("the new segment"), "409": _error("a segment of that name exists")}},
            "delete": {"operationId": "segmentsRemove", "security": ANALYST, "summary": "remove a segment",
                       "parameters": [SITE_ID, _param("segment", {"type": "string", "minLength": 1, "maxLength": 80}, "segment id or name",
                                                      required=True)],
                       "responses": {**V1_ANSWERS, "200": _json("the removed segment"), "404": _error("no such segment")}}},
        "/api/v1/admin/goals": {
            "get": {"operationId": "goalsList", "security": ADMIN, "parameters": [client_param],
                    "responses": {**ADMIN_ANSWERS, "200": _json("the client's goals and funnels")}},
            "post": {"operationId": "goalsAdd", "security": ADMIN, "requestBody": _body(GoalBody),
                     "responses": {**ADMIN_ANSWERS, "201": _json("the new goal")}},
            "delete": {"operationId": "goalsRemove", "security": ADMIN,
                       "parameters": [client_param, _param("goal", {"type": "string", "minLength": 1, "maxLength": 128}, "goal id or name",
                                                           required=True)],
                       "responses": {**ADMIN_ANSWERS, "200": _json("the removed goal")}}},
        "/api/v1/admin/import/logs": {
            "post": {"operationId": "importLogs", "security": ADMIN, "summary": "import a web server access log (the body: plain or gzip)",
                     "parameters": [client_param, _param("format", {"type": "string", "maxLength": 2000},
                                                         "combined (default), common, or an nginx log_format pattern")],
                     "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}},
                     "responses": {**ADMIN_ANSWERS, "200": _json("the import's summary: lines read, imported, skipped by reason")}}},
        "/api/v1/admin/import/plausible": {
            "post": {"operationId": "importPlausible", "security": ADMIN, "summary": "import a Plausible CE CSV export (the body: its ZIP)",
                     "parameters": [client_param, _param("file", {"type": "string", "maxLength": 200}, "the export's file name")],
                     "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                     "responses": {**ADMIN_ANSWERS, "201": _json("the import: its id, days and rows"), "413": _error("over 1 GiB")}}},
        "/api/v1/admin/imports": {
            "get": {"operationId": "importsList", "security": ADMIN, "summary": "a client's imports", "parameters": [client_param],
                    "responses": {**ADMIN_ANSWERS, "200": _json("the imports: id, source, days, rows")}},
            "delete": {"operationId": "importsDelete", "security": ADMIN, "summary": "remove one import",
                       "parameters": [client_param, _param("import_id", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "the import's id",
                                                           required=True)],
                       "responses": {**ADMIN_ANSWERS, "200": _json("the removed import's id"), "404": _error("no such import")}}},
        "/api/v1/admin/email": {
            "get": {"operationId": "emailSettings", "security": ADMIN, "summary": "a client's e-mailed reports, recipients and alerts",
                    "parameters": [client_param], "responses": {**ADMIN_ANSWERS, "200": _json("the client's e-mail settings")}},
            "put": {"operationId": "emailSettingsChange", "security": ADMIN, "summary": "change them (the fields given; 0 turns an alert off)",
                    "requestBody": _body(EmailSettings), "responses": {**ADMIN_ANSWERS, "200": _json("the client's e-mail settings")}}},
        "/api/v1/admin/email/send": {
            "post": {"operationId": "emailSend", "security": ADMIN, "summary": "send a report to every recipient now",
                     "requestBody": _body(SendBody),
                     "responses": {**ADMIN_ANSWERS, "200": _json("the period and the messages sent"),
                                   "502": _error("the mail server did not take the report")}}},
        "/api/v1/admin/email/preview": {
            "get": {"operationId": "emailPreview", "security": ADMIN, "summary": "a report as its first recipient would get it, sent to nobody",
                    "parameters": [client_param, _param("kind", {"type": "string", "enum": ["weekly", "monthly"]}, "the report", required=True),
                                   _param("period", {"type": "string", "pattern": r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"},
                                          "a day of the period (default: the last closed)"),
                                   _param("format", {"type": "string", "enum": ["html", "text"]}, "the HTML part (default) or the text part")],
                    "responses": {**ADMIN_ANSWERS, "200": {"description": "the report", "content": {"text/html": {"schema": {"type": "string"}},
                                                                                                     "text/plain": {"schema": {"type": "string"}}}}}}},
        "/api/v1/admin/funnels": {
            "post": {"operationId": "funnelsAdd", "security": ADMIN, "requestBody": _body(FunnelBody),
                     "responses": {**ADMIN_ANSWERS, "201": _json("the new funnel")}},
            "delete": {"operationId": "funnelsRemove", "security": ADMIN,
                       "parameters": [client_param, _param("funnel", {"type": "string", "minLength": 1, "maxLength": 120}, "funnel name",
                                                           required=True)],
                       "responses": {**ADMIN_ANSWERS, "200": _json("the removed funnel")}}},
    }


def _beacon_paths() -> dict[str, Any]:
    dropped = {"X-SPII-Dropped": {"schema": {"type": "string"}, "description": "why the event was dropped on purpose"}}
    answers = {
        "202": {"description": "accepted (or dropped on purpose: see X-SPII-Dropped)", "headers": dropped},
        "400": _bad_request("malformed or invalid event, the field named in details"),
        "413": _error(f"body over {MAX_BODY} bytes"),
        "429": _error("client over its rate (X-SPII-Dropped: rate_limited)"),
        "503": _error("cannot store now (Retry-After)"),
    }
    event = {"required": True, "content": {"application/json": {"schema": _ref("EventPayload")},
                                           "text/plain": {"schema": _ref("EventPayload")}}}
    return {
        "/api/event": {"post": {"operationId": "postEvent", "summary": "one event (Plausible's Events API, plus spii's fields)",
                                "requestBody": event, "responses": answers}},
        "/api/events": {"post": {
            "operationId": "postEvents", "summary": f"a batch of 1-{MAX_BATCH} events (JSON array or NDJSON), each judged on its own",
            "description": "Each item is validated as EventPayload; a bad item is reported in its result and never rejects the others.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"anyOf": [
                # (more than MAX_BATCH events is a 413, like too many bytes: not a schema limit)
                {"type": "array", "minItems": 1, "items": {}}, {"type": "object"}]}}}},
            "responses": {**answers, "202": _json("per-event results: accepted, dropped (with reason) or invalid (with details)"),
                          "413": _error(f"over 2 MiB or {MAX_BATCH} events")}}},
        "/px.gif": {"get": {
            "operationId": "pixel", "summary": "a pageview without JavaScript (<noscript><img>); the page is u, else the Referer",
            "parameters": [_param("d", {"type": "string", "minLength": 1, "maxLength": 253}, "site domain", required=True),
                           _param("u", EventPayload.model_json_schema()["properties"]["u"], "page URL (optional when the Referer is the page)",
                                  required=True)],
            "responses": {"200": {"description": "a 1x1 GIF (the event accepted, or dropped on purpose: see X-SPII-Dropped)", "headers": dropped,
                                  "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}},
                          "400": _bad_request("invalid event"), "429": _error("rate limited"), "503": _error("cannot store now")}}},
    }


def _ops_paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": {"operationId": "healthz", "responses": {"200": _json("process up")}}},
        "/readyz": {"get": {"operationId": "readyz", "responses": {"200": _json("ready"), "503": _json("not ready: which check failed")}}},
        "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus exposition",
                             "responses": {"200": {"description": "text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"operationId": "openapi", "responses": {"200": _json("this description")}}},
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "problem": {"type": "string"}}}},
            "request_id": {"type": "string"},
        },
        "required": ["error", "details"],
    }


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {"Error": _error_schema(), "V2Filter": FILTER_SCHEMA}
    for model in (EventPayload, V2Query, SubjectBody, DiscloseBody, GoalBody, FunnelBody, SegmentBody, EmailSettings, SendBody):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    out["V2Query"]["properties"]["filters"]["items"] = {"$ref": "#/components/schemas/V2Filter"}  # (recursive: and/or/not)
    return out


def openapi_spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "spii collector", "version": "1",
                 "description": "Privacy-preserving web analytics: beacon, stats (Plausible v1 and v2 shapes), admin and data-subject APIs"},
        "paths": {**_beacon_paths(), **_stats_paths(), **_admin_paths(), **_ops_paths()},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "analystToken": {"type": "http", "scheme": "bearer", "description": "a client's analyst token (spii clients token NAME)"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "the operator's admin token (SPII_ADMIN_TOKEN or <data dir>/admin.token)"},
            },
        },
    }
