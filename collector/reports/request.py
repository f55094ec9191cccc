"""A report's question as the Stats API v1 asks it (query parameters: period, date, metrics,
filters, interval, property, limit, page, compare, with_imported) read into a StatsRequest; a bad
parameter is a QueryError naming it. The HTTP API, the dashboard, exports and e-mailed reports all
ask through it, so one question is read one way."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from collector.reports.periods import PeriodError, default_interval, parse_period
from collector.reports.query import QueryError, parse_filters
from collector.reports.stats import StatsRequest

__all__ = ["parse_request", "query_flag", "MAX_LIMIT"]

MAX_LIMIT = 1000


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(name, "must be an integer") from None
    if not low <= value <= high:
        raise QueryError(name, f"must be between {low} and {high}")
    return value


# Plausible's v1 names for the buckets (its documented interval values): the same answers as spii's own
V1_INTERVALS = {"date": "day"}


def parse_request(query: Mapping[str, str], default_metrics: str = "visitors") -> StatsRequest:
    """Query parameters -> StatsRequest; QueryError names the bad field."""
    try:
        period = parse_period(query.get("period", "30d"), query.get("date"), datetime.now(UTC).date())
    except PeriodError as exc:
        raise QueryError(exc.field, exc.problem) from None
    compare = query.get("compare")
    if compare not in (None, "", "previous_period"):
        raise QueryError("compare", "only previous_period")
    metrics = [m.strip() for m in query.get("metrics", default_metrics).split(",") if m.strip()]
    return StatsRequest(
        period=period,
        metrics=metrics,
        filters=parse_filters(query.get("filters")),
        interval=V1_INTERVALS.get(query.get("interval") or "", query.get("interval") or default_interval(period)),
        prop=query.get("property"),
        limit=_int(query, "limit", 100, 1, MAX_LIMIT),
        page=_int(query, "page", 1, 1, 100_000),
        compare=compare == "previous_period",
        imports=query_flag(query, "with_imported"),
    )


def query_flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "false")
    if value not in ("true", "false", ""):
        raise QueryError(name, "true or false")
    return value == "true"
