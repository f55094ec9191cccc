"""Plausible's Stats API v2 (``POST /api/v2/query``) over the stats service. It takes the same
request body and gives the same answer shape, under the same suppression, complement rule and
perturbation as v1. Names come from the catalogue and the v1 property list, so v1 and v2 answer
alike on the same data.

A request: ``site_id``, ``metrics``, ``date_range`` (``day``, ``7d``, ``28d``, ``30d``,
``month``, ``6mo``, ``12mo``, ``year``, ``all``, or ``[first, last]``), ``dimensions`` (up to
3: properties, ``time``, ``time:hour|day|week|month``), ``filters`` (``[op, dimension,
[values]]`` with is / is_not / contains / contains_not / matches / matches_not, combined with
``["and", [...]]``, ``["or", [...]]`` and ``["not", f]``), ``order_by``, ``include``
(``total_rows``, ``time_labels``) and ``pagination`` (``limit``, ``offset``). The answer is
``{results: [{dimensions, metrics}], meta, query}``. A bad field is a 400 that names it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.reports.catalogue import METRICS, available_for_visits
from collector.reports.names import NAMED, codes_of
from collector.reports.periods import Period, PeriodError, default_interval, parse_period
from collector.reports.query import (
    BREAKDOWN_GROUPS, BUCKETS, PROPERTIES, VISIT_ONLY, GoalGroup, QueryError, filter_sql, goal_condition, parse_filters, property_expr,
)

__all__ = ["V2Query", "parse_v2", "compile_filter", "DATE_RANGES", "DERIVED", "since_condition"]

DATE_RANGES = ("day", "24h", "7d", "28d", "30d", "month", "6mo", "12mo", "year", "all")
# metrics computed from the rows as shown, not counted: a row's share of the total's visitors
DERIVED = ("percentage", "group_conversion_rate")
SEPARATOR = "\x1f"  # between the parts of a multi-dimension label
MAX_DIMENSIONS = 3
MAX_VALUE = 500  # characters of one filter value
_OPS = {"is", "is_not", "contains", "contains_not", "matches", "matches_not"}


class Include(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    total_rows: bool = False
    time_labels: bool = False
    imports: bool = False  # add imported history where it can answer (reports/imported.py); meta says whether it did


class Pagination(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    limit: int = Field(10_000, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=1_000_000)


_DAY = {"type": "string", "pattern": r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"}
_DIMENSIONS = ["time", *(f"time:{b}" for b in BUCKETS), *PROPERTIES, *NAMED, "event:goal"]
# one filter: [operator, dimension, [values]] (a regex for matches), or and/or of filters, or not
_LEAF = {"type": "array", "minItems": 3, "maxItems": 4, "prefixItems": [
    {"enum": sorted(_OPS - {"matches", "matches_not"})}, {"enum": [*(p for p in PROPERTIES if p not in VISIT_ONLY), *NAMED]},
    {"type": "array", "minItems": 1, "maxItems": 100, "items": {"anyOf": [{"type": "string", "maxLength": MAX_VALUE}, {"type": "number"}]}},
    {"type": "object", "properties": {"case_sensitive": {"type": "boolean"}}, "additionalProperties": False}]}
MAX_CHILDREN = 10
_SELF = {"$ref": "#/components/schemas/V2Filter"}  # (/openapi.json defines it: FILTER_SCHEMA)
# a saved segment's filters (GET /api/v1/segments gives the ids)
_SEGMENT = {"type": "array", "minItems": 3, "maxItems": 3, "prefixItems": [
    {"enum": ["is", "is_not"]}, {"const": "segment"}, {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "string", "maxLength": 80}}]}
FILTER_SCHEMA = {"anyOf": [
    _LEAF,
    _SEGMENT,
    {"type": "array", "minItems": 2, "maxItems": 2,
     "prefixItems": [{"enum": ["and", "or"]}, {"type": "array", "minItems": 1, "maxItems": MAX_CHILDREN, "items": _SELF}]},
    {"type": "array", "minItems": 2, "maxItems": 2, "prefixItems": [{"enum": ["not", "has_done", "has_not_done"]}, _SELF]}]}


class V2Query(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str | None = Field(None, max_length=253)
    metrics: list[str] = Field(min_length=1, max_length=20, json_schema_extra={"items": {"enum": [*METRICS, *DERIVED]}, "uniqueItems": True})
    date_range: str | list[str] = Field(json_schema_extra={"anyOf": [{"enum": list(DATE_RANGES)},
                                                                     {"type": "array", "minItems": 2, "maxItems": 2, "items": _DAY}]})
    dimensions: list[str] = Field(default_factory=list, max_length=MAX_DIMENSIONS,
                                  json_schema_extra={"items": {"enum": _DIMENSIONS}, "uniqueItems": True})
    filters: list[Any] = Field(default_factory=list, max_length=30, json_schema_extra={
                               "description": "[op, dimension, [values]] (is, is_not, contains, contains_not, matches, matches_not), "
                                              "[\"and\"|\"or\", [filters]], [\"not\", filter]"})
    order_by: list[tuple[str, Literal["asc", "desc"]]] | None = Field(None, max_length=5)
    include: Include = Field(default_factory=Include)
    pagination: Pagination = Field(default_factory=Pagination)


def parse_v2(body: Any) -> V2Query:
    """The request, or QueryError naming the first bad field (never echoing its value)."""
    try:
        query = V2Query.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        raise QueryError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None
    if len(set(query.metrics)) != len(query.metrics):
        raise QueryError("metrics", "each metric once")
    unknown = [m for m in query.metrics if m not in METRICS and m not in DERIVED]
    if unknown:
        raise QueryError("metrics", f"unknown metric {unknown[0]!r}; one of {', '.join([*METRICS, *DERIVED])}")
    if "percentage" in query.metrics and not any(not d.startswith("time") for d in query.dimensions):
        raise QueryError("metrics", "percentage needs a dimension other than time (each row's share of the total's visitors)")
    if "group_conversion_rate" in query.metrics and (not query.dimensions or (
            "event:goal" not in query.dimensions and not any("event:goal" in json.dumps(f) for f in query.filters))):
        raise QueryError("metrics", "group_conversion_rate needs dimensions and an event:goal filter or dimension")
    return query


def since_condition(date_range: str | list[str], now: datetime, params: dict[str, Any]) -> list[str]:
    """The rows' lower bound in time for a range shorter than its days (``24h``: the last 24 hours)."""
    if date_range != "24h":
        return []
    params["since_24h_ms"] = int((now - timedelta(hours=24)).timestamp() * 1000)
    return ["ts >= fromUnixTimestamp64Milli({since_24h_ms:Int64})"]


def period_of(date_range: str | list[str], today: date, retention_days: int) -> Period:
    if isinstance(date_range, list):
        if len(date_range) != 2:
            raise QueryError("date_range", "a name or [first, last] (ISO dates)")
        try:
            return parse_period("custom", ",".join(d[:10] for d in date_range), today)
        except PeriodError as exc:
            raise QueryError("date_range", exc.problem) from None
    if date_range not in DATE_RANGES:
        raise QueryError("date_range", f"one of {', '.join(DATE_RANGES)} or [first, last]")
    if date_range == "28d":
        return Period(today - timedelta(days=27), today)
    if date_range == "24h":  # the two days it touches; query_v2 keeps the last 24 hours of them (since_condition)
        return Period(today - timedelta(days=1), today)
    if date_range == "year":
        return Period(today.replace(month=1, day=1), today.replace(month=12, day=31), 12)
    if date_range == "all":  # everything the client's retention keeps
        return Period(today - timedelta(days=min(retention_days, 3 * 366 - 1)), today)
    return parse_period(date_range, None, today)


def dimension_expr(dimension: str, period: Period, params: dict[str, Any], tag: str, goals: list[Any]) -> str:
    if dimension == "time":
        return BUCKETS[default_interval(period)]
    if dimension.startswith("time:"):
        interval = dimension[5:]
        if interval not in BUCKETS:
            raise QueryError("dimensions", f"time:{interval} is not one of time:{', time:'.join(BUCKETS)}")
        return BUCKETS[interval]
    dimension = NAMED.get(dimension, dimension)  # (a name is its code's label, named after counting: reports/names.py)
    if dimension in BREAKDOWN_GROUPS:  # (the entry pages: only the events of a visit have one)
        return BREAKDOWN_GROUPS[dimension]
    try:
        return property_expr(dimension, params, tag, goals)
    except QueryError as exc:
        raise QueryError("dimensions", exc.problem) from None


def time_interval(dimensions: list[str], period: Period) -> str | None:
    for dimension in dimensions:
        if dimension == "time":
            return default_interval(period)
        if dimension.startswith("time:"):
            return dimension[5:]
    return None


def group_expr(query: V2Query, period: Period, params: dict[str, Any], goals: list[Any]) -> str | None:
    """One group expression for the dimensions: the expression itself for one, their labels
    joined by a separator for several."""
    dims = query.dimensions
    if not dims:
        return None
    if len(set(dims)) != len(dims):
        raise QueryError("dimensions", "each dimension once")
    if len(dims) > 1 and any(d == "event:goal" or d in VISIT_ONLY for d in dims):
        raise QueryError("dimensions", f"event:goal and {', '.join(sorted(VISIT_ONLY))} cannot be combined with other dimensions")
    if dims[0] in VISIT_ONLY:
        bad = [m for m in query.metrics if m not in DERIVED and not available_for_visits(m)]
        if bad:
            raise QueryError("metrics", f"{bad[0]} is not available for {dims[0]}")
        return PROPERTIES[dims[0]]
    if any(d.startswith("event:") for d in dims) and any(METRICS[m].visit_level for m in query.metrics if m in METRICS):
        raise QueryError("metrics", "bounce_rate and visit_duration need visit:* dimensions")
    exprs = [dimension_expr(d, period, params, f"d{n}", goals) for n, d in enumerate(dims)]
    if len(exprs) == 1:
        return exprs[0]
    return "concat(" + f", '{SEPARATOR}', ".join(f"toString({e})" for e in exprs) + ")"


def compile_filter(node: Any, params: dict[str, Any], goals: list[Any], tag: str, depth: int = 0,
                   segments: dict[str, str] | None = None) -> str:
    """A v2 filter tree as one SQL condition (values bound into ``params``); ``segments``: the
    client's saved segments (id or name -> v1 filters) for ``["is", "segment", [ID]]``."""
    if depth > 5 or not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise QueryError("filters", "each filter is [operator, dimension, [values]], or [\"and\"|\"or\", [filters]], or [\"not\", filter]")
    op = node[0]
    if op in ("and", "or"):
        if len(node) != 2 or not isinstance(node[1], list) or not 0 < len(node[1]) <= MAX_CHILDREN:
            raise QueryError("filters", f'["{op}", [filter, ...]] takes 1-{MAX_CHILDREN} filters')
        parts = [compile_filter(child, params, goals, f"{tag}_{n}", depth + 1, segments) for n, child in enumerate(node[1])]
        return "(" + f" {op.upper()} ".join(parts) + ")"
    if op in ("has_done", "has_not_done"):  # visitors who did (or did not) send a matching event in the period
        if len(node) != 2:
            raise QueryError("filters", f'["{op}", filter] takes one filter')
        inner = compile_filter(node[1], params, goals, tag + "_h", depth + 1, segments)
        did = (f"visitor_id IN (SELECT visitor_id FROM spii.events WHERE client_id = {{client:String}} "
               f"AND day BETWEEN {{first:Date}} AND {{last:Date}} AND visitor_id != 0 AND kind != 'engagement' AND {inner})")
        return f"NOT ({did})" if op == "has_not_done" else f"({did})"
    if op == "not":
        if len(node) != 2:
            raise QueryError("filters", '["not", filter] takes one filter')
        return f"NOT ({compile_filter(node[1], params, goals, tag + '_n', depth + 1, segments)})"
    if op not in _OPS:
        raise QueryError("filters", f"unknown operator {op!r}; one of {', '.join(sorted(_OPS))}, and, or, not, has_done, has_not_done")
    if len(node) not in (3, 4) or not isinstance(node[1], str) or not isinstance(node[2], list) or not node[2] \
            or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) and len(str(v)) <= MAX_VALUE for v in node[2]) \
            or len(node[2]) > 100:
        raise QueryError("filters", f"[{op!r}, dimension, [1-100 values of at most {MAX_VALUE} characters]] (and modifiers)")
    dimension, values = node[1], [str(v) for v in node[2]]
    case_sensitive = _case_sensitive(op, node[3] if len(node) == 4 else {})
    negate = op.endswith("_not")
    base = op.removesuffix("_not")
    if dimension in NAMED:  # a filter on names is a filter on the codes so named
        values = codes_of(dimension, _name_test(base, values, case_sensitive)) or ["\x00none"]
        dimension, base, case_sensitive = NAMED[dimension], "is", True
    if dimension == "segment":
        if base != "is":
            raise QueryError("filters", '["is", "segment", [segment ids]] (or "is_not")')
        unknown = [v for v in values if v not in (segments or {})]
        if unknown:
            raise QueryError("filters", f"no segment {unknown[0]!r}: one of {', '.join(sorted(segments or {})) or '(none saved)'}")
        kept = [" AND ".join(filter_sql(parse_filters((segments or {})[v]), params, goals, f"{tag}_s{n}_")) or "1"
                for n, v in enumerate(values)]
        condition = " OR ".join(f"({part})" for part in kept)
    elif dimension == "event:goal":
        wanted = [g for g in goals if (g.name in values if base == "is" else any(v.lower() in g.name.lower() for v in values)
                                       if base == "contains" else any(_matches(v, g.name) for v in values))]
        condition = " OR ".join(goal_condition(g, params, f"{tag}_{n}") for n, g in enumerate(wanted)) or "0"
    else:
        if dimension in VISIT_ONLY or dimension.startswith("time"):
            raise QueryError("filters", f"{dimension} cannot be filtered on")
        try:
            expr = property_expr(dimension, params, tag, goals)
        except QueryError as exc:
            raise QueryError("filters", exc.problem) from None
        name = f"{tag}_v"
        if base == "is" and case_sensitive:
            params[name] = values
            condition = f"toString({expr}) IN {{{name}:Array(String)}}"
        elif base == "is":
            params[name] = [v.lower() for v in values]
            condition = f"lowerUTF8(toString({expr})) IN {{{name}:Array(String)}}"
        elif base == "contains":
            params[name] = values if case_sensitive else [v.lower() for v in values]
            position = "position" if case_sensitive else "positionCaseInsensitiveUTF8"
            condition = f"arrayExists(v -> {position}(toString({expr}), v) > 0, {{{name}:Array(String)}})"
        else:
            for v in values:
                _check_regex(v)
            params[name] = values
            condition = f"arrayExists(v -> match(toString({expr}), v), {{{name}:Array(String)}})"
    return f"NOT ({condition})" if negate else f"({condition})"


def _name_test(base: str, values: list[str], case_sensitive: bool) -> Callable[[str], bool]:
    """Whether a name meets an is / contains / matches filter's values."""
    fold = (lambda text: text) if case_sensitive else str.lower
    wanted = [fold(v) for v in values]
    if base == "is":
        return lambda name: fold(name) in wanted
    if base == "contains":
        return lambda name: any(v in fold(name) for v in wanted)
    for v in values:
        _check_regex(v)
    patterns = [re.compile(v) for v in values]
    return lambda name: any(p.search(name) for p in patterns)


def _case_sensitive(op: str, modifiers: Any) -> bool:
    """The filter's ``{"case_sensitive": false}`` modifier (Plausible's fourth element), on is,
    is_not, contains and contains_not; matching is case-sensitive without it."""
    if not isinstance(modifiers, dict) or set(modifiers) - {"case_sensitive"} \
            or not isinstance(modifiers.get("case_sensitive", True), bool):
        raise QueryError("filters", 'modifiers are {"case_sensitive": true|false}')
    if "case_sensitive" in modifiers and op.removesuffix("_not") not in ("is", "contains"):
        raise QueryError("filters", "case_sensitive applies to is, is_not, contains and contains_not")
    return bool(modifiers.get("case_sensitive", True))


_NOT_RE2 = re.compile(r"\(\?[=!<]|\\[1-9]")  # lookarounds and backreferences: Python has them, ClickHouse's RE2 does not


def _check_regex(pattern: str) -> None:
    if len(pattern) > 200:
        raise QueryError("filters", "a pattern is at most 200 characters")
    if _NOT_RE2.search(pattern):
        raise QueryError("filters", "lookarounds and backreferences are not supported (RE2 syntax)")
    try:
        re.compile(pattern)
    except re.error:
        raise QueryError("filters", "not a valid regular expression") from None


def _matches(pattern: str, text: str) -> bool:
    _check_regex(pattern)
    return re.search(pattern, text) is not None


def is_goal_group(group: str | None) -> bool:
    return isinstance(group, GoalGroup)
