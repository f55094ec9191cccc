"""Imported history as a source of report rows, beside the events and the closed days: the
daily aggregates of a Plausible export (importing/plausible.py, spii.imported), added to the
events' counts of the same labels when a report asks for them (v2 ``include.imports``, v1
``with_imported=true``, the dashboard's toggle) and they can answer it, as Plausible does: no
filters, a dimension the export has, the metrics it has, days or longer. The sum then goes
through the same suppression, complement rule and perturbation as every number (an imported
label's cell key is fixed by its dimension and label, so its noise is the same each time)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collector.reports.query import BREAKDOWN_GROUPS, BUCKETS, PROPERTIES, Filter, Scope

__all__ = ["IMPORTED_METRICS", "imported_rows", "merge", "skip_reason"]

Row = dict[str, Any]

# the group expressions the export has a dimension for -> (its dim in spii.imported, the label's SQL)
_DIMS: dict[str | None, tuple[str, str]] = {
    **{PROPERTIES[p]: (p, "label") for p in ("visit:source", "visit:referrer", "visit:utm_source", "visit:utm_medium",
                                             "visit:utm_campaign", "visit:utm_content", "visit:utm_term", "visit:country",
                                             "visit:region", "visit:device", "visit:browser", "visit:os", "event:page",
                                             "visit:exit_page", "event:name")},
    BREAKDOWN_GROUPS["visit:entry_page"]: ("visit:entry_page", "label"),
    None: ("total", "''"),
    BUCKETS["day"]: ("total", "toString(day)"),
    BUCKETS["week"]: ("total", "toString(toMonday(day))"),
    BUCKETS["month"]: ("total", "toString(toStartOfMonth(day))"),
}
_PAGEVIEWS = Filter("event:kind", "==", ("pageview",))
IMPORTED_METRICS = frozenset(("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"))
_SUMMED = ("visitors", "visits", "pageviews", "visit_pageviews", "engaged_visits", "visit_seconds", "events")


def skip_reason(store: Any, scope: Scope, group: str | None, metrics: list[str]) -> str | None:
    """Why imported rows cannot answer this question (Plausible's imports_skip_reason), or None."""
    if group == BUCKETS["hour"]:
        return "unsupported_interval"
    # (the dashboard's Top pages are its pages filtered to pageviews: what the export's pages are)
    pages = group == PROPERTIES["event:page"] and scope.filters == [_PAGEVIEWS]
    if (scope.filters and not pages) or scope.conditions or group not in _DIMS or not set(metrics) <= IMPORTED_METRICS:
        return "unsupported_query"
    found = store.query("SELECT count() FROM spii.imports WHERE client_id = {client:String} AND first_day <= {last:Date} "
                        "AND last_day >= {first:Date}", {"client": scope.client_id, "first": scope.period.first, "last": scope.period.last})
    return None if found[0][0] else "no_imported_data"


def imported_rows(store: Any, scope: Scope, group: str | None, labels: list[str] | None = None) -> dict[str, Row]:
    """The imported counts of ``group``'s labels in the scope's days, as catalogue columns."""
    dim, label = _DIMS[group]
    not_before = (scope.now - timedelta(days=scope.retention_days)).date()  # (the client's retention bounds imported days too)
    params: dict[str, Any] = {"client": scope.client_id, "first": max(scope.period.first, not_before), "last": scope.period.last, "dim": dim}
    only = ""
    if labels is not None:
        params["labels"] = labels
        only = f" AND {label} IN {{labels:Array(String)}}"
    # a day's events in total: its pageviews and its custom events (the event:name rows). (The
    # aliases are not the columns' names: ClickHouse would read a later sumIf(visits) as the alias.)
    events = "sumIf(pageviews, dim = 'total') + sumIf(events, dim = 'event:name')" if dim == "total" else "sum(events)"
    sql = (f"SELECT {label} AS label_, sumIf(visitors, dim = {{dim:String}}) AS visitors_, sumIf(visits, dim = {{dim:String}}) AS visits_, "
           "sumIf(pageviews, dim = {dim:String}) AS pageviews_, sumIf(visits, dim = {dim:String}) - sumIf(bounces, dim = {dim:String}) "
           f"AS engaged_visits_, sumIf(visit_duration, dim = {{dim:String}}) AS visit_seconds_, {events} AS events_, "
           "max(cityHash64(dim, label)) AS cell_key_ FROM spii.imported WHERE client_id = {client:String} "
           "AND day BETWEEN {first:Date} AND {last:Date} AND dim IN (" + ("{dim:String}, 'event:name'" if dim == "total" else "{dim:String}")
           + f"){only} GROUP BY label_ HAVING visitors_ > 0 OR events_ > 0")
    out = {}
    for row in store.query_dicts(sql, params):
        counts = {name.rstrip("_"): int(value) for name, value in row.items() if name != "label_"}
        counts["visit_pageviews"] = counts["pageviews"]
        out[str(row["label_"])] = counts
    return out


def merge(rows: dict[str, Row], imported: dict[str, Row], columns: list[str]) -> dict[str, Row]:
    """``rows`` (the events' catalogue columns per label) with the imported counts added; an
    imported label the events do not have becomes a row of its own. Each row keeps its imported
    visitors apart (``imported_visitors``: suppression adds them to a hidden group's people)."""
    merged = {label: dict(row) for label, row in rows.items()}
    for label, extra in imported.items():
        row = merged.setdefault(label, {c: 0 for c in columns} | {"people": 0})
        for name in _SUMMED:
            if name in row or name == "visitors":
                row[name] = int(row.get(name) or 0) + extra[name]
        row["people"] = int(row.get("people") or 0) + extra["visitors"]
        row["imported_visitors"] = extra["visitors"]
        if "cell_key" in row:
            row["cell_key"] = max(int(row["cell_key"] or 0), extra["cell_key"])
    return merged
