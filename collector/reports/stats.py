"""The stats service: Plausible-shaped aggregate / timeseries / breakdown results for one
client, with small-count suppression applied to every number before it leaves.

Used by the stats API, the dashboard and (through the API) ``spii report``. Blocking: callers on
the event loop run it in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from collector.reports.daily import Daily
from collector.reports.kept import KeptAnswers
from collector.reports.periods import Period
from collector.reports.catalogue import METRICS, PEOPLE, available_for_visits
from collector.reports.imported import skip_reason
from collector.reports.names import NAMED, name_of
from collector.reports.protect import Protection, at_least_k, finish
from collector.reports.sources import Sources
from collector.reports.perturb import PTABLE, cell_position
from collector.reports.query import (
    BREAKDOWN_GROUPS, BUCKETS, VISIT_ONLY, Filter, QueryError, Scope,
    event_query, expand_segments, goal_condition, label_key, property_expr,
)
from collector.reports.together import Planned, Together
from collector.reports.suppression import OTHER, round_counts
from collector.reports.v2 import DERIVED, SEPARATOR, V2Query, compile_filter, group_expr, period_of, since_condition, time_interval
from collector.store.clickhouse import Store
from collector.tenants import Client

__all__ = ["Stats", "StatsRequest", "QueryError"]
# Plausible's words for imported history that could not answer (its imports_warning)
IMPORTS_WARNINGS = {"unsupported_query": "Imported stats are not included in the results because query parameters are not supported: "
                                         "no filters, a dimension the import has, and visitors, visits, pageviews, bounce_rate, "
                                         "visit_duration, views_per_visit or events.",
                    "unsupported_interval": "Imported stats are not included because the time dimension (i.e. the interval) is too short."}
# the metrics that add up amounts of money (in whatever currency each transaction was paid)
MONEY_METRICS = ("revenue", "average_order_value", "total_revenue", "average_revenue")

Row = dict[str, Any]
T = TypeVar("T")


@dataclass
class StatsRequest:
    period: Period
    metrics: list[str] = field(default_factory=lambda: ["visitors"])
    filters: list[Filter] = field(default_factory=list)
    interval: str = "day"
    prop: str | None = None
    limit: int = 100
    page: int = 1
    compare: bool = False
    imports: bool = False  # with_imported=true: add imported history where it can answer (reports/imported.py)

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise QueryError("metrics", f"unknown metric {unknown[0] if unknown else ''!r}; one of {', '.join(METRICS)}")
        if self.interval not in BUCKETS:
            raise QueryError("interval", f"one of {', '.join(BUCKETS)}")


def _first_only(together: Together | None) -> Callable[[], Together | None]:
    """``together`` on the first call, None after: a kept answer's refresh (reports/kept.py)
    counts alone and keeps no page's rows alive."""
    page = [together]
    return lambda: page.pop() if page else None


def _buckets(period: Period, interval: str) -> list[str]:
    """Every bucket label of the period, as ClickHouse's toString of the bucket expression."""
    labels, day = [], period.first
    if interval == "hour":
        start = datetime(day.year, day.month, day.day)
        return [(start + timedelta(hours=h)).strftime("%Y-%m-%d %H:00:00") for h in range(period.days * 24)]
    while day <= period.last:
        if interval == "day":
            labels.append(day.isoformat())
        elif interval == "week":
            monday = (day - timedelta(days=day.weekday())).isoformat()
            if monday not in labels:
                labels.append(monday)
        elif day.day == 1 or not labels:
            labels.append(day.replace(day=1).isoformat())
        day += timedelta(days=1)
    return labels


class Stats:
    def __init__(self, store: Store, exclusions: Callable[[str], list[str]] | None = None,
                 record_secret: Callable[[str], int] | None = None, kept: KeptAnswers | None | bool = True,
                 daily: Daily | None = None) -> None:
        """``record_secret(client_id)``: the client's record-key secret; without it (tests of
        exact numbers) no count is perturbed. ``kept``: where answers are kept and given again
        (reports/kept.py); True keeps closed periods' answers only, False none. ``daily``: closed
        days counted once (reports/daily.py), which a page's passes add up where they can."""
        self.store = store
        self.daily = daily
        self.exclusions = exclusions or (lambda client_id: [])
        self.record_secret = record_secret
        self.kept = KeptAnswers(store) if kept is True else kept or None
        self.sources = Sources(store, daily)
        self.protect = Protection(store, self.kept, daily)
        self._currencies_kept: dict[tuple, tuple[float, list[str]]] = {}  # (_currencies)

    def forget(self) -> None:
        """Subject flags changed or events were erased: no kept open answer may hide it."""
        if self.kept is not None:
            self.kept.forget()
        if self.daily is not None:
            self.daily.changed()  # (the erasure deleted the client's closed days too: subjects/service.py)
        self._currencies_kept.clear()

    def _kept(self, endpoint: str, client: Client, req: StatsRequest, period: Period, compute: Callable[[], T]) -> T:
        """``compute()``, or the answer kept for this question (reports/kept.py)."""
        if self.kept is None:
            return compute()
        key = (endpoint, client.model_dump_json(), repr(req), period)
        return self.kept.answer(self.scope(client, period, req.filters), key, compute)

    def scope(self, client: Client, period: Period, filters: list[Filter], bound: dict[str, Any] | None = None,
              imports: bool = False) -> Scope:
        secret = self.record_secret(client.client_id) if self.record_secret is not None and client.perturb else None
        filters = expand_segments(filters, saved_segments(client)) if any(f.prop == "segment" for f in filters) else filters
        return Scope(client.client_id, period, filters, self.exclusions(client.client_id), bound or {},
                     retention_days=client.retention_days, record_secret=secret, goals=list(client.goals), imports=imports)

    # -- queries ------------------------------------------------------------------------------

    def _rows(
        self, scope: Scope, group: str | None, metrics: list[str], labels: list[str] | None = None, combine: bool = False,
        together: Together | None = None, finished: bool = True,
    ) -> dict[str, Row]:
        """label -> finished metrics (reports/protect.finish: perturbed where the client's counts
        are), or the sources' exact columns (``finished`` False: finished later, a page's only)."""
        rows = self.sources.rows(scope, group, metrics, labels, combine, together)
        return rows if not finished else {label: finish(metrics, row, scope.record_secret) for label, row in rows.items()}

    # -- endpoints ----------------------------------------------------------------------------

    def query_v2(self, client: Client, query: V2Query) -> dict[str, Any]:
        """Stats API v2 (reports/v2.py): Plausible's answer shape under this service's rules."""
        period = period_of(query.date_range, datetime.now(UTC).date(), client.retention_days)
        bound: dict[str, Any] = {}
        conditions = [compile_filter(node, bound, client.goals, f"v{n}", segments=saved_segments(client)) for n, node in enumerate(query.filters)]
        conditions += since_condition(query.date_range, datetime.now(UTC), bound)
        group = group_expr(query, period, bound, client.goals)
        scope = self.scope(client, period, [], bound)
        scope.conditions = conditions
        meta: dict[str, Any] = {"k": client.k}
        if query.include.imports:  # Plausible's flag and meta: whether imported history could answer, else why not
            reason = skip_reason(self.store, scope, group, query.metrics)  # (percentage too: its total would not have them)
            scope.imports = reason is None
            meta.update(imports_included=reason is None, **({"imports_skip_reason": reason} if reason else {}),
                        **({"imports_warning": IMPORTS_WARNINGS[reason]} if reason in IMPORTS_WARNINGS else {}))
        echo = {**query.model_dump(), "site_id": client.client_id, "date_range": [period.first.isoformat(), period.last.isoformat()]}
        if group is None:
            row = self._rows(scope, None, query.metrics)[""]
            hidden = row["people"] < client.k or "" in self.protect.complement_small(scope, None, client.k)
            meta["suppressed"] = hidden
            results = [] if hidden else [{"dimensions": [], "metrics": [self.protect.shown(row, query.metrics, client)[m]
                                                                          for m in query.metrics]}]
            self._metric_warnings(meta, client, scope, query.metrics, results)
            return {"results": results, "meta": meta, "query": echo}
        counted = [m for m in query.metrics if m not in DERIVED]
        counted += ["visitors"] if set(DERIVED) & set(query.metrics) and "visitors" not in counted else []
        rows = self._rows(scope, group, counted)
        cut = self.protect.suppress(scope, group, [{"label": label, **row} for label, row in rows.items()], client.k)
        shown = [at_least_k(self.protect.shown(r, counted, client), r["exact_visitors"], client.k) | {"label": r["label"]} for r in cut.shown]
        if "percentage" in query.metrics:  # from the numbers shown: it can reveal nothing they hide
            total = self._total_shown(client, scope)
            for r in shown:
                r["percentage"] = round(r["visitors"] * 100 / total, 1) if isinstance(r["visitors"], int) and total else None
        if "group_conversion_rate" in query.metrics:
            self._group_conversion_rates(client, query, period, group, shown)
        # ordered by the numbers as shown (perturbed, then rounded), never by the exact ones
        ordered = sorted(shown, key=lambda r: _v2_sort_key(query, r))
        start, size = query.pagination.offset, query.pagination.limit
        out, withheld = self.protect.complement_rows(scope, group, client.k, ordered, start + size)
        if query.dimensions == ["event:goal"] and "conversion_rate" in query.metrics:
            total = self._rows(scope, None, ["visitors"])[""]
            for r in out:
                r["conversion_rate"] = _rate(r["visitors"], total["visitors"] if total["people"] >= client.k else None)
        results = [{"dimensions": _named(query.dimensions, r["label"].split(SEPARATOR) if len(query.dimensions) > 1 else [r["label"]]),
                    "metrics": [r[m] for m in query.metrics]} for r in out[start:start + size]]
        meta["hidden_rows"] = len(cut.hidden) + withheld
        if query.include.total_rows:
            meta["total_rows"] = len(out)
        interval = time_interval(query.dimensions, period)
        if query.include.time_labels and interval:
            meta["time_labels"] = _buckets(period, interval)
        self._metric_warnings(meta, client, scope, query.metrics, results)
        return {"results": results, "meta": meta, "query": echo}

    def _metric_warnings(self, meta: dict[str, Any], client: Client, scope: Scope, metrics: list[str], results: list[dict[str, Any]]) -> None:
        """Plausible's ``meta.metric_warnings`` ({metric: {code, warning}}) where a metric's
        numbers need a word: money added up across currencies, and averages left null because
        fewer than k visitors have a value."""
        warnings: dict[str, dict[str, str]] = {}
        money = [m for m in metrics if m in MONEY_METRICS]
        if money and results and len(currencies := self._currencies(scope, client.k)) > 1:
            for m in money:
                warnings[m] = {"code": "no_single_revenue_currency",
                               "warning": f"{m} adds up amounts in {', '.join(currencies)}: filter on event:currency for one"}
        for i, m in enumerate(metrics):
            if m in METRICS and METRICS[m].support and any(r["metrics"][i] is None for r in results):
                warnings[m] = {"code": "fewer_than_k", "warning": f"{m} is null where fewer than {client.k} visitors have a value"}
        if warnings:
            meta["metric_warnings"] = warnings

    def _group_conversion_rates(self, client: Client, query: V2Query, period: Period, group: str, rows: list[Row]) -> None:
        """Plausible's group_conversion_rate: of each row's visitors without the goal filters,
        the share that converted (the row's own visitors). Both from the numbers shown: a group
        of fewer than k visitors, or one the complement rule withholds, has no rate."""
        bound: dict[str, Any] = {}
        plain = [compile_filter(node, bound, client.goals, f"g{n}", segments=saved_segments(client))
                 for n, node in enumerate(query.filters) if not _goal_filter(node)]
        plain += since_condition(query.date_range, datetime.now(UTC), bound)
        group = group_expr(query, period, bound, client.goals) if query.dimensions != ["event:goal"] else None
        scope = self.scope(client, period, [], bound)
        scope.conditions = plain
        if group is None:  # by goal: each goal's converted visitors of all the period's
            total = self._total_shown(client, scope)
            groups = {r["label"]: total for r in rows}
        else:
            counted = self._rows(scope, group, ["visitors"])
            withheld = self.protect.complement_small(scope, group, client.k, [r["label"] for r in rows]) if plain else set()
            groups = {label: self.protect.shown(row, ["visitors"], client)["visitors"] for label, row in counted.items()
                      if row["people"] >= client.k and label not in withheld}
        for r in rows:
            whole = groups.get(r["label"])
            r["group_conversion_rate"] = _rate(r["visitors"], whole) if isinstance(whole, int) else None

    def _total_shown(self, client: Client, scope: Scope) -> int | None:
        """The visitors of ``scope`` in total, as an aggregate would show them (None when hidden)."""
        row = self._rows(scope, None, ["visitors"])[""]
        if row["people"] < client.k or "" in self.protect.complement_small(scope, None, client.k):
            return None
        visitors = self.protect.shown(row, ["visitors"], client)["visitors"]
        return visitors if isinstance(visitors, int) else None

    def funnel(self, client: Client, req: StatsRequest, name: str) -> dict[str, Any]:
        """Visitors who reached each step of the funnel, in order, within one visit (ClickHouse's
        windowFunnel per visit), with conversion and drop-off. A step is hidden when fewer than
        k people reached it, or when fewer than k dropped off before it (the complement rule:
        "step before minus this step" would single them out); every later step goes with it."""
        funnel = client.funnel(name)
        if funnel is None:
            raise QueryError("funnel", f"no funnel {name!r}: one of {', '.join(f.name for f in client.funnels) or '(none set)'}")
        goals = [client.goal(step) for step in funnel.steps]
        scope = self.scope(client, req.period, req.filters)
        params: dict[str, Any] = {}
        where = scope.where(params)
        conditions = ", ".join(goal_condition(goal, params, f"s{n}") for n, goal in enumerate(goals))
        visits = (f"SELECT visitor AS visitor_id, level FROM (SELECT any(visitor_id) AS visitor, "
                  # time in ms, then the event's place in its visit: two events of one millisecond keep their order
                  f"windowFunnel({86_400_000 << 16})(bitShiftLeft(toUInt64(toUnixTimestamp64Milli(ts)), 16) + visit_event, {conditions}) AS level "
                  f"FROM spii.events WHERE {where} AND session_id != 0 AND visitor_id != 0 GROUP BY session_id)")
        perturbed = scope.record_secret is not None
        steps = ", ".join(f"uniqExactIf(visitor_id, level >= {n + 1}) AS s{n}" + (f", maxIf(visitor_id, level >= {n + 1}) AS k{n}"
                                                                                   if perturbed else "") for n in range(len(goals)))
        row = self.store.query_dicts(f"SELECT {steps} FROM ({visits})", params)[0]
        true_counts = [int(row[f"s{n}"]) for n in range(len(goals))]
        shown: list[int | None] = []
        for n, count in enumerate(true_counts):
            hidden = count < client.k or (n > 0 and 0 < true_counts[n - 1] - count < client.k) or (shown and shown[-1] is None)
            value = PTABLE.perturb(count, cell_position(int(row[f"k{n}"]), count, scope.record_secret or 0)) if perturbed else count
            shown.append(None if hidden else round_counts({"visitors": min(value, shown[-1]) if shown else value}, client.rounding)["visitors"])
        first = shown[0]
        out = []
        for n, (goal, visitors) in enumerate(zip(goals, shown)):
            before = shown[n - 1] if n else None
            out.append({"step": n + 1, "goal": goal.name if goal else "", "visitors": visitors,
                        "conversion_rate": _rate(visitors, first), "conversion_rate_step": _rate(visitors, before) if n else 100.0 if visitors else None,
                        "dropoff": before - visitors if isinstance(before, int) and isinstance(visitors, int) else None})
        return {"funnel": funnel.name, "steps": out, "hidden_steps": sum(v is None for v in shown), "k": client.k}

    def realtime(self, client: Client, minutes: int = 5) -> int | None:
        """Distinct visitors in the last ``minutes`` (Plausible's realtime count), perturbed like
        every count; None when fewer than k people are behind it."""
        now = datetime.now(UTC)
        scope = self.scope(client, Period(now.date() - timedelta(days=1), now.date()), [])
        sql, params = event_query(scope, None, metrics=["visitors"])
        params["since_ms"] = int((now - timedelta(minutes=minutes)).timestamp() * 1000)
        sql += " AND ts >= fromUnixTimestamp64Milli({since_ms:Int64})"
        row = finish(["visitors"], self.store.query_dicts(sql, params)[0], scope.record_secret)
        return None if row["people"] < client.k else round_counts(row, client.rounding)["visitors"]

    def has_imports(self, client: Client) -> bool:
        """Whether the client has imported history (the dashboard offers to add it)."""
        return bool(self.store.query("SELECT count() FROM spii.imports WHERE client_id = {client:String}",
                                     {"client": client.client_id})[0][0])

    def recent_events(self, client: Client, since: datetime) -> tuple[int, datetime | None]:
        """The client's events since ``since`` and when the latest arrived (a drop alert: has a
        site that had events gone quiet?). For the operator's alerting, never shown as a count."""
        params = {"client": client.client_id, "since_ms": int(since.timestamp() * 1000)}
        count, last = self.store.query("SELECT count(), max(ts) FROM spii.events WHERE client_id = {client:String} "
                                       "AND ts >= fromUnixTimestamp64Milli({since_ms:Int64})", params)[0]
        if not count:
            return 0, None
        return int(count), last.replace(tzinfo=UTC) if last.tzinfo is None else last

    def receiving(self, client: Client, req: StatsRequest | None = None) -> dict[str, Any]:
        """Is data arriving? Counts of *events* (not visitors) in the last hour and today, rounded
        to the client's rounding: a new site sees its first events while every visitor figure is
        still under k. Counts of events say how busy the site is, not who is on it."""
        now = datetime.now(UTC)
        day_start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        params = {"client": client.client_id, "hour_ms": int((now - timedelta(hours=1)).timestamp() * 1000),
                  "day_ms": int(min(day_start, now - timedelta(hours=1)).timestamp() * 1000),
                  "today_ms": int(day_start.timestamp() * 1000)}
        hour, today = self.store.query(
            "SELECT countIf(ts >= fromUnixTimestamp64Milli({hour_ms:Int64})), countIf(ts >= fromUnixTimestamp64Milli({today_ms:Int64})) "
            "FROM spii.events WHERE client_id = {client:String} AND ts >= fromUnixTimestamp64Milli({day_ms:Int64})", params)[0]
        counts = round_counts({"events": int(hour)}, client.rounding)["events"], round_counts({"events": int(today)}, client.rounding)["events"]
        return {"client_id": client.client_id, "name": client.name, "events_last_hour": counts[0], "events_today": counts[1],
                "as_of": now.strftime("%Y-%m-%dT%H:%MZ"), "k": client.k, "perturbed": client.perturb}

    def plan(self, client: Client, endpoint: str, req: StatsRequest) -> list[Planned]:
        """The main query (scope, group, metrics) of each pass this call makes, for a page that
        asks several calls together (reports/together.py); [] for other endpoints."""
        if endpoint == "aggregate":
            periods = [req.period, *([req.period.previous()] if req.compare else [])]
            return [Planned(self.scope(client, period, req.filters), None, req.metrics) for period in periods]
        if endpoint == "timeseries":
            return [Planned(self.scope(client, req.period, req.filters), BUCKETS[req.interval], req.metrics)]
        if endpoint == "breakdown" and req.prop:
            return [Planned(*self._breakdown_scope(client, req), req.metrics)]
        return []

    def aggregate(self, client: Client, req: StatsRequest, together: Together | None = None) -> dict[str, Any]:
        current = self._total(client, req, req.period, together)
        results: dict[str, Any] = {}
        previous = self._total(client, req, req.period.previous(), together) if req.compare else None
        for m in req.metrics:
            entry: dict[str, Any] = {"value": current[m] if current else None}
            if req.compare:
                prev = previous[m] if previous else None
                entry["change"] = _change(entry["value"], prev)
            results[m] = entry
        if "revenue" in results and current is not None:
            results["revenue"]["currencies"] = self._currencies(self.scope(client, req.period, req.filters), client.k)
        return {"results": results, "suppressed": current is None, "k": client.k}

    def _currencies(self, scope: Scope, k: int) -> list[str]:
        """The currencies of the scope's transactions, each paid in by at least k people (a
        currency fewer paid in is not named: that would tell that someone did). A scan of the
        period's transactions (~45 ms at 8M events), so kept a while: 30 s for a period with
        today in it, 10 minutes for a closed one."""
        key = (scope.client_id, scope.period.first, scope.period.last, repr(scope.filters), repr(scope.conditions), k)
        now = time.monotonic()
        kept = self._currencies_kept.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        found = self._count_currencies(scope, k)
        if len(self._currencies_kept) > 1000:
            self._currencies_kept.clear()
        self._currencies_kept[key] = (now + (600 if scope.period.last < scope.now.date() else 30), found)
        return found

    def _count_currencies(self, scope: Scope, k: int) -> list[str]:
        params: dict[str, Any] = {"k": k}
        sql = (f"SELECT currency FROM spii.events WHERE {scope.where(params)} AND kind = 'transaction' AND currency != '' "
               f"GROUP BY currency HAVING {PEOPLE.format(exact='Exact', also='')} >= {{k:UInt32}} ORDER BY currency LIMIT 10")
        return [str(row[0]) for row in self.store.query(sql, params)]

    def _total(self, client: Client, req: StatsRequest, period: Period, together: Together | None = None) -> Row | None:
        page = _first_only(together)
        return self._kept("total", client, req, period, lambda: self._compute_total(client, req, period, page()))

    def _compute_total(self, client: Client, req: StatsRequest, period: Period, together: Together | None = None) -> Row | None:
        scope = self.scope(client, period, req.filters, imports=req.imports)
        row = self._rows(scope, None, req.metrics, together=together)[""]
        if row["people"] < client.k or "" in self.protect.complement_small(scope, None, client.k, together=together):
            return None
        shown = self.protect.shown(row, req.metrics, client)
        if "conversion_rate" in req.metrics and any(f.prop == "event:goal" for f in req.filters):
            # (the converted visitors as shown, whether or not visitors were asked for too)
            converted = self.protect.shown(row, ["visitors"], client)["visitors"]
            shown["conversion_rate"] = _rate(converted, self._period_visitors(client, req, period))
        return shown

    def _period_visitors(self, client: Client, req: StatsRequest, period: Period) -> int | None:
        """The visitors of the period under every filter but the goal ones: a goal's conversion
        rate is the share of them that converted (Plausible's definition)."""
        others = [f for f in req.filters if f.prop != "event:goal"]
        row = self._rows(self.scope(client, period, others), None, ["visitors"])[""]
        return None if row["people"] < client.k else row["visitors"]

    def _goal_conversion_rates(self, client: Client, req: StatsRequest, rows: list[Row]) -> None:
        if not rows:
            return  # (no goal shown: the period's visitors are not needed)
        total = self._period_visitors(client, req, req.period)
        for row in rows:
            row["conversion_rate"] = _rate(row["visitors"], total)

    def timeseries(self, client: Client, req: StatsRequest, together: Together | None = None) -> dict[str, Any]:
        page = _first_only(together)
        return self._kept("timeseries", client, req, req.period, lambda: self._timeseries(client, req, page()))

    def _timeseries(self, client: Client, req: StatsRequest, together: Together | None = None) -> dict[str, Any]:
        scope = self.scope(client, req.period, req.filters, imports=req.imports)
        group = BUCKETS[req.interval]
        rows = self._rows(scope, group, req.metrics, together=together)
        complement = self.protect.complement_small(scope, group, client.k, list(rows), together=together)
        listed = sorted(({"label": label, **row} for label, row in rows.items() if label not in complement), key=lambda r: r["label"])
        cut = self.protect.suppress(scope, group, listed, client.k)
        shown = {r["label"]: r for r in cut.shown}
        hidden = {r["label"] for r in cut.hidden} | (complement & set(rows))
        results = []
        for label in _buckets(req.period, req.interval):
            if label in shown:
                results.append({"date": label, **self.protect.shown(shown[label], req.metrics, client)})
            elif label in hidden:
                results.append({"date": label, **{m: None for m in req.metrics}, "suppressed": True})
            else:
                results.append({"date": label, **{m: 0 for m in req.metrics}})
        return {"results": results, "suppressed_buckets": len(hidden), "k": client.k}

    def breakdown(self, client: Client, req: StatsRequest, together: Together | None = None) -> dict[str, Any]:
        if not req.prop:
            raise QueryError("property", "a breakdown needs property=, e.g. event:page")
        page = _first_only(together)
        return self._kept("breakdown", client, req, req.period, lambda: self._breakdown(client, req, page()))

    def _breakdown_scope(self, client: Client, req: StatsRequest) -> tuple[Scope, str]:
        """A breakdown's scope and group expression; QueryError for metrics its property lacks."""
        assert req.prop is not None
        bound: dict[str, Any] = {}
        group = property_expr(req.prop, bound, "g", client.goals)
        if req.prop in VISIT_ONLY:
            bad = [m for m in req.metrics if not available_for_visits(m)]
            if bad:
                raise QueryError("metrics", f"{bad[0]} is not available for {req.prop}")
        elif req.prop.startswith("event:") and any(METRICS[m].visit_level for m in req.metrics):
            raise QueryError("metrics", f"{', '.join(m for m in METRICS if METRICS[m].visit_level)} need a visit:* property")
        scope = self.scope(client, req.period, req.filters, bound, imports=req.imports)
        return scope, BREAKDOWN_GROUPS.get(req.prop, group)

    def _breakdown(self, client: Client, req: StatsRequest, together: Together | None = None) -> dict[str, Any]:
        assert req.prop is not None
        scope, group = self._breakdown_scope(client, req)
        # the rows unfinished: only the requested page's are perturbed and computed (a panel shows
        # ten of a few thousand pages; finishing them all was a fifth of a page's time)
        rows = self._rows(scope, group, req.metrics, together=together, finished=False)
        # (in the order suppress keeps them, most people first then by label: its own sort then finds them sorted)
        listed: list[Row] = [{"label": label, "people": row.get("people", row.get("visitors", 0)), "columns": row}
                             for label, row in rows.items()]
        listed.sort(key=lambda r: (-r["people"], r["label"]))
        cut = self.protect.suppress(scope, group, listed, client.k, req.metrics)
        key = label_key(req.prop)
        start = (req.page - 1) * req.limit
        page, total_rows, withheld = self.protect.page(scope, group, client, req.metrics, cut.shown, start, start + req.limit, together)
        out = [{key: label, **numbers} for label, numbers in page]
        hidden = [r["label"] for r in cut.hidden]
        if cut.other_shown(client.k) and not self.protect.complement_small(scope, group, client.k, hidden, combine=True):
            total_rows += 1  # (the (other) row comes last: asked only for the page it falls on)
            if len(out) < req.limit and start <= total_rows - 1:
                other = cut.other or self._rows(scope, group, req.metrics, hidden, combine=True)[""]
                out.append({key: OTHER, **self.protect.shown(other, req.metrics, client), "other": True})
        if req.prop == "event:goal" and "conversion_rate" in req.metrics:
            self._goal_conversion_rates(client, req, out)
        return {
            "results": out,
            "hidden_rows": len(cut.hidden) + withheld,
            "k": client.k,
            "page": req.page,
            "total_rows": total_rows,
        }


def _goal_filter(node: Any) -> bool:
    """Whether a v2 filter is on goals (``["is", "event:goal", [...]]``, also inside not/and/or)."""
    if isinstance(node, list) and len(node) >= 2 and isinstance(node[1], str):
        return node[1] == "event:goal"
    return isinstance(node, list) and len(node) == 2 and any(_goal_filter(child) for child in (node[1] if isinstance(node[1], list)
                                                                                            and node[0] in ("and", "or") else [node[1]]))


def _named(dimensions: list[str], labels: list[str]) -> list[str]:
    """A row's labels, those of named dimensions (visit:country_name, ...) as names."""
    return [name_of(d, label) if d in NAMED else label for d, label in zip(dimensions, labels)]


def saved_segments(client: Client) -> dict[str, str]:
    """The client's saved segments: id and name -> their filters (v1 syntax)."""
    return {key: segment.filters for segment in client.segments for key in (segment.segment_id, segment.name)}


def _v2_sort_key(query: V2Query, row: Row) -> list[Any]:
    """Plausible's orders: as asked, else by time for a time dimension, else the first metric
    descending (ties by label)."""
    parts = row["label"].split(SEPARATOR)
    if query.order_by:
        keys = []
        for name, direction in query.order_by:
            value = parts[query.dimensions.index(name)] if name in query.dimensions else row.get(name) or 0
            keys.append(_Reverse(value) if direction == "desc" else value)
        return keys
    if any(d == "time" or d.startswith("time:") for d in query.dimensions):
        return [row["label"]]
    return [_Reverse(row.get(query.metrics[0]) or 0), row["label"]]


class _Reverse:
    """Sorts its value descending inside an ascending sort."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value


def _rate(part: Any, whole: Any) -> Any:
    return round(part * 100 / whole, 1) if isinstance(part, int) and whole else None


def _change(current: Any, previous: Any) -> Any:
    if current is None or previous is None:
        return None
    if previous == 0:
        return 100 if current else 0
    return round((current - previous) * 100 / previous)
